"""The builtin preset files: every official SigLIP family, with checked sizes."""

import pytest

from keras_siglip import SigLIP, list_presets
from keras_siglip.presets import get_preset
from keras_siglip.towers import variants
from keras_siglip.towers.variants import count_parameters, decode_variant

OFFICIAL = [
    "siglip_base_patch16_224",
    "siglip_base_patch16_256",
    "siglip_base_patch16_384",
    "siglip_base_patch16_512",
    "siglip_large_patch16_256",
    "siglip_large_patch16_384",
    "siglip_so400m_patch14_224",
    "siglip_so400m_patch14_384",
    "siglip_base_patch16_256_multilingual",
    "siglip_so400m_patch16_256_i18n",
    "siglip2_base_patch16_224",
    "siglip2_base_patch16_256",
    "siglip2_base_patch16_384",
    "siglip2_base_patch16_512",
    "siglip2_base_patch32_256",
    "siglip2_large_patch16_256",
    "siglip2_large_patch16_384",
    "siglip2_large_patch16_512",
    "siglip2_so400m_patch14_224",
    "siglip2_so400m_patch14_384",
    "siglip2_so400m_patch16_256",
    "siglip2_so400m_patch16_384",
    "siglip2_so400m_patch16_512",
    "siglip2_giant_opt_patch16_256",
    "siglip2_giant_opt_patch16_384",
]


def test_every_official_checkpoint_has_a_preset_with_its_source_and_license():
    assert set(OFFICIAL) <= set(list_presets())
    for name in OFFICIAL:
        preset = get_preset(name)
        assert preset["weights"]["source"].startswith("hf://google/"), name
        assert preset["license"] == "Apache-2.0"
        assert preset["tokenizer"]["type"] == "sentencepiece"
    assert get_preset("siglip_so400m_patch14_224")["config"]["sequence_length"] == 16
    assert get_preset("siglip2_base_patch16_224")["config"]["vocabulary_size"] == 256_000
    assert get_preset("siglip_so400m_patch16_256_i18n")["config"]["vocabulary_size"] == 250_000


def keras_hub_counts():
    keras_hub_presets = pytest.importorskip("keras_hub.src.models.siglip.siglip_presets")
    return {
        name: entry["metadata"]["params"]
        for name, entry in keras_hub_presets.backbone_presets.items()
    }


# keras-hub's metadata disagrees with its own pattern here: siglip2_base_patch16_384
# repeats siglip2_base_patch32_256's number, and siglip2_so400m_patch16_512 was
# counted without the position ids.
KERAS_HUB_METADATA_SLIPS = {"siglip2_base_patch16_384", "siglip2_so400m_patch16_512"}


def test_parameter_counts_agree_with_keras_hub_for_every_preset_it_has():
    counts = keras_hub_counts()
    compared = 0
    for name in list_presets():
        preset = get_preset(name)
        config = preset["config"]
        ours = count_parameters(**config)
        assert preset["parameters"] == ours, name
        if name not in counts or name in KERAS_HUB_METADATA_SLIPS:
            continue
        # keras-hub also counts a non-trainable position id per patch and per text position.
        patches = (config["image_size"] // decode_variant(config["variant"])["patch_size"]) ** 2
        assert ours + patches + config["sequence_length"] == counts[name], name
        compared += 1
    assert compared >= 20


def test_the_count_equals_the_built_model(monkeypatch):
    for variant, image_size, length, vocabulary in [("Pico/8", 32, 16, 300), ("Nano/4", 24, 7, 50)]:
        model = SigLIP.from_variant(
            variant, image_size=image_size, sequence_length=length, vocabulary_size=vocabulary
        )
        assert model.count_params() == count_parameters(variant, image_size, length, vocabulary)
    # A giant-opt-like variant in miniature: the text tower narrower than the image tower.
    monkeypatch.setitem(
        variants.VARIANTS,
        "mini-opt",
        {
            "hidden_dim": 48,
            "num_layers": 3,
            "intermediate_dim": 96,
            "num_heads": 4,
            "text_hidden_dim": 32,
            "text_num_layers": 2,
            "text_intermediate_dim": 64,
            "text_num_heads": 2,
        },
    )
    model = SigLIP.from_variant("mini-opt/8", image_size=16, sequence_length=6, vocabulary_size=40)
    assert model.count_params() == count_parameters("mini-opt/8", 16, 6, 40)
    assert model.text_encoder.hidden_dim == 32 and model.embedding_dim == 48
