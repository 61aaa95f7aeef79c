"""Presets by the names people use: hub ids, typos, and what to do offline."""

import huggingface_hub
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError

from keras_siglip import SigLIP
from keras_siglip.presets import get_preset
from keras_siglip.presets.registry import identify


@pytest.mark.parametrize(
    "name",
    [
        "google/siglip-base-patch16-224",
        "google/siglip-so400m-patch14-384@main",
        "me/my.model_v2",
    ],
)
def test_a_bare_hub_id_is_taken_as_hf(name):
    assert identify(name) == ("remote", "hf://" + name)


def test_a_missing_local_path_is_not_taken_for_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(ValueError, match=r"'runs/final'.*no such file.*hf://runs/final"):
        identify("runs/final")


@pytest.mark.parametrize(
    "typo, suggestion",
    [
        ("siglip_base_patch16_22", "siglip_base_patch16_224"),
        ("siglip-base-patch16-224", "siglip_base_patch16_224"),
        ("SigLIP_Base_Patch16_224", "siglip_base_patch16_224"),
    ],
)
def test_an_unknown_name_lists_the_closest_builtin_names(typo, suggestion):
    with pytest.raises(ValueError, match=f"Did you mean [^?]*'{suggestion}'"):
        identify(typo)
    with pytest.raises(ValueError, match=f"Did you mean [^?]*'{suggestion}'"):
        get_preset(typo)
    with pytest.raises(ValueError, match=f"Unknown preset '{typo}'"):
        SigLIP.from_preset(typo)


def test_no_suggestion_for_a_name_like_no_preset():
    with pytest.raises(ValueError) as error:
        identify("zzz")
    assert "Did you mean" not in str(error.value)


def test_offline_errors_say_what_to_do(monkeypatch):
    def offline(**kwargs):
        raise LocalEntryNotFoundError("Cannot find the requested files in the local cache.")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(OSError) as error:
        SigLIP.from_preset("google/siglip-base-patch16-224")
    message = str(error.value)
    assert "Could not download hf://google/siglip-base-patch16-224" in message
    assert "local cache" in message and "HF_HUB_OFFLINE=1" in message
    assert "keras-siglip convert hf://google/siglip-base-patch16-224 DIRECTORY" in message
    assert "from_preset('DIRECTORY')" in message
