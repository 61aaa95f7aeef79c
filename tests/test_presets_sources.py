"""`from_preset` on every kind of source, `keras-siglip convert`, and builtin presets
whose official weights come from the Hub (the download is replaced by a local
transformers directory: no network in tests)."""

import json
import os
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
hf = pytest.importorskip("transformers")
huggingface_hub = pytest.importorskip("huggingface_hub")

from transformers_reference import (  # noqa: E402
    IMAGE_SIZE,
    SEQUENCE_LENGTH,
    VOCABULARY_SIZE,
    assert_same_outputs,
    random_inputs,
    tiny_model,
)

from keras_siglip import SigLIP, SigLIPPreprocessor, cli  # noqa: E402
from keras_siglip.preprocessing import train_sentencepiece  # noqa: E402
from keras_siglip.presets import registry  # noqa: E402

CORPUS = [
    f"a photo of {n} {animal}"
    for n in ("one", "two", "many")
    for animal in ("cats", "dogs", "foxes", "birds")
]
TEXTS = ["A photo of two CATS!", "many birds", "an unknown zebra"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """`(transformers model, its directory with a SentencePiece tokenizer)`."""
    model = tiny_model(seed=3)
    path = tmp_path_factory.mktemp("hub") / "siglip"
    model.save_pretrained(str(path))
    vocabulary = tmp_path_factory.mktemp("spm") / "spiece.model"
    vocabulary.write_bytes(train_sentencepiece(CORPUS, 24))
    tokenizer = hf.SiglipTokenizer(vocab_file=str(vocabulary), model_max_length=SEQUENCE_LENGTH)
    tokenizer.save_pretrained(str(path))
    return model, tokenizer, str(path)


@pytest.fixture
def hub(reference, monkeypatch):
    """A Hub whose every repository is the reference directory; records requests."""
    requests = []

    def snapshot_download(**kwargs):
        requests.append(kwargs)
        return reference[2]

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return requests


@pytest.fixture
def tiny_builtin(monkeypatch):
    from transformers_reference import TOWER

    from keras_siglip.towers import variants

    monkeypatch.setitem(
        variants.VARIANTS,
        "Tiny",
        {
            "hidden_dim": TOWER["hidden_size"],
            "num_layers": TOWER["num_hidden_layers"],
            "intermediate_dim": TOWER["intermediate_size"],
            "num_heads": TOWER["num_attention_heads"],
        },
    )
    presets = dict(registry._builtin_presets())
    presets["tiny_official"] = {
        "name": "tiny_official",
        "config": {
            "variant": "Tiny/8",
            "image_size": IMAGE_SIZE,
            "sequence_length": SEQUENCE_LENGTH,
            "vocabulary_size": VOCABULARY_SIZE,
        },
        "weights": {"source": "hf://google/tiny-siglip", "format": "transformers"},
    }
    monkeypatch.setattr(registry, "_builtin_presets", lambda: presets)
    return presets["tiny_official"]


def transformers_ids(tokenizer, texts):
    return tokenizer(
        texts,
        padding="max_length",
        truncation=True,
        max_length=SEQUENCE_LENGTH,
        return_tensors="np",
    )["input_ids"]


def test_a_builtin_preset_downloads_and_converts_its_official_weights(
    reference, hub, tiny_builtin, rng
):
    model = SigLIP.from_preset("tiny_official")
    assert [request["repo_id"] for request in hub] == ["google/tiny-siglip"]
    assert not any(pattern.endswith(".bin") for pattern in hub[0]["allow_patterns"])
    assert_same_outputs(model, reference[0], random_inputs(rng))
    preprocessor = SigLIPPreprocessor.from_preset("tiny_official")
    np.testing.assert_array_equal(
        preprocessor.tokenizer(TEXTS), transformers_ids(reference[1], TEXTS)
    )
    # Built without weights, the builtin preset needs no download.
    assert (
        SigLIP.from_preset("tiny_official", load_weights=False).count_params()
        == model.count_params()
    )
    assert len(hub) == 2


def test_a_download_that_does_not_match_its_preset_file_is_refused(hub, tiny_builtin):
    tiny_builtin["config"]["sequence_length"] = 64
    with pytest.raises(
        ValueError, match=r"does not match the preset file: sequence_length 16 \(preset file: 64\)"
    ):
        SigLIP.from_preset("tiny_official")


def test_hf_handles_load_models_and_preprocessors(reference, hub, rng):
    model = SigLIP.from_preset("hf://someone/their-siglip@main")
    assert hub[0]["repo_id"] == "someone/their-siglip" and hub[0]["revision"] == "main"
    assert_same_outputs(model, reference[0], random_inputs(rng))


def test_convert_writes_a_preset_with_the_same_model_and_tokenizer(reference, tmp_path, rng):
    output = str(tmp_path / "converted")
    assert cli.main(["convert", reference[2], output]) == 0
    assert_same_outputs(SigLIP.from_preset(output), reference[0], random_inputs(rng))
    preprocessor = SigLIPPreprocessor.from_preset(output)
    np.testing.assert_array_equal(
        preprocessor.tokenizer(TEXTS), transformers_ids(reference[1], TEXTS)
    )
    with open(os.path.join(output, "metadata.json")) as handle:
        metadata = json.load(handle)
    assert (
        metadata["converted_from"] == reference[2] and metadata["source_format"] == "transformers"
    )


def test_convert_without_a_tokenizer_still_writes_the_model(reference, tmp_path, rng, capsys):
    source = str(tmp_path / "weights_only")
    shutil.copytree(reference[2], source)
    os.remove(os.path.join(source, "spiece.model"))
    output = str(tmp_path / "converted")
    cli.main(["convert", source, output])
    assert "no tokenizer saved" in capsys.readouterr().out
    assert not os.path.exists(os.path.join(output, "preprocessor.json"))
    assert_same_outputs(SigLIP.from_preset(output), reference[0], random_inputs(rng))


def test_sources_that_are_not_presets_say_what_was_tried(reference, tmp_path):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    with pytest.raises(ValueError, match="is a file but not a big_vision .npz checkpoint"):
        SigLIP.from_preset(str(text_file))
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"layers": 3}))
    with pytest.raises(
        ValueError, match="describes neither a keras_siglip SigLIP.*Tried: a builtin preset name"
    ):
        SigLIP.from_preset(str(odd))
    with pytest.raises(
        ValueError,
        match="Unknown preset 'siglip_nope'.*hf:// or kaggle:// handle.*siglip2_base_patch16_224",
    ):
        SigLIP.from_preset("siglip_nope")
    with pytest.raises(
        ValueError,
        match=r"fixes the architecture; arguments \['image_size'\] cannot override it "
        r"\(it takes only \[.dtype., .locked_towers.\]\)",
    ):
        SigLIP.from_preset(reference[2], image_size=64)
    import keras

    model = SigLIP.from_preset(reference[2], dtype="bfloat16")
    assert (
        keras.backend.standardize_dtype(model.image_encoder.pooling.mlp.expand.kernel.dtype)
        == "bfloat16"
    )


def test_any_source_loads_with_a_locked_tower(reference, hub, tiny_builtin):
    for source in (reference[2], "tiny_official"):
        model = SigLIP.from_preset(source, locked_towers=("image",))
        assert tuple(model.locked_towers) == ("image",)
        assert not model.image_encoder.trainable and model.text_encoder.trainable


def test_a_lit_preset_loads_the_official_weights_with_the_image_tower_locked(
    reference, hub, tiny_builtin, monkeypatch, rng
):
    tiny_builtin["model_options"] = {"locked_towers": ["image"]}
    model = SigLIP.from_preset("tiny_official")
    assert tuple(model.locked_towers) == ("image",)
    assert_same_outputs(model, reference[0], random_inputs(rng))
    assert tuple(SigLIP.from_preset("tiny_official", load_weights=False).locked_towers) == (
        "image",
    )
    assert not SigLIP.from_preset("tiny_official", locked_towers=()).locked_towers


def test_the_builtin_lit_presets_lock_the_image_tower_of_an_official_checkpoint():
    from keras_siglip.presets import get_preset

    for name in (
        "siglit_base_patch16_224",
        "siglit_so400m_patch14_384",
        "siglit_base_patch16_256_multilingual",
    ):
        preset = get_preset(name)
        official = get_preset(name.replace("siglit_", "siglip_"))
        assert preset["model_options"] == {"locked_towers": ["image"]}
        assert preset["weights"] == official["weights"] and preset["config"] == official["config"]


def test_kaggle_handles_download_through_kagglehub(tmp_path, monkeypatch, rng):
    kagglehub = pytest.importorskip("kagglehub")
    saved = SigLIP.from_variant("Pico/8", image_size=16, sequence_length=8, vocabulary_size=40)
    saved.bias.assign(-4.25)
    path = str(tmp_path / "kaggle_preset")
    saved.save_to_preset(path)
    requests = []

    def model_download(handle, *args, **kwargs):
        requests.append(handle)
        return path

    monkeypatch.setattr(kagglehub, "model_download", model_download)
    model = SigLIP.from_preset("kaggle://someone/siglip/keras/pico/2")
    assert requests == ["someone/siglip/keras/pico/2"]
    inputs = {
        "images": rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32"),
        "token_ids": rng.integers(0, 40, (2, 8)).astype("int32"),
    }
    np.testing.assert_array_equal(
        model.predict(inputs, verbose=0), saved.predict(inputs, verbose=0)
    )
