"""keras-hub presets: our model reproduces keras-hub's embeddings, logits and preprocessing."""

import json
import os
import shutil

import keras
import keras_hub
import numpy as np
import pytest
from helpers import random_batch
from test_layers import as_numpy

from keras_siglip import SigLIP, SigLIPPreprocessor, SigLIPTokenizer
from keras_siglip.convert.keras_hub import (
    from_keras_hub_backbone,
    is_keras_hub_preset,
    load_keras_hub_preset,
    preprocessor_from_keras_hub,
)
from keras_siglip.preprocessing import train_sentencepiece

IMAGE_SIZE, PATCH, WIDTH, LENGTH, VOCABULARY = 32, 8, 64, 16, 500
LOG_TEMPERATURE, BIAS = 1.7, -2.3
CORPUS = [
    f"a {size} {animal} on the {place}"
    for size in ("big", "small", "red")
    for animal in ("cat", "dog", "fox", "bird")
    for place in ("grass", "road", "sofa")
]
TEXTS = ["A big cat on the road.", "the small FOX", "a red bird, on a sofa!", "dog"]


def keras_hub_backbone(rng, intermediate_activation="gelu_approximate"):
    """A tiny keras-hub SigLIP whose every weight (norms, logit scale and bias
    included) is moved away from its initial value."""
    backbone = keras_hub.models.SigLIPBackbone(
        keras_hub.models.SigLIPVisionEncoder(
            patch_size=PATCH,
            hidden_dim=WIDTH,
            num_layers=2,
            num_heads=2,
            intermediate_dim=128,
            intermediate_activation=intermediate_activation,
            image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
        ),
        keras_hub.models.SigLIPTextEncoder(
            vocabulary_size=VOCABULARY,
            embedding_dim=WIDTH,
            hidden_dim=WIDTH,
            num_layers=2,
            num_heads=4,
            intermediate_dim=96,
            max_sequence_length=LENGTH,
            projection_dim=WIDTH,
        ),
    )
    for variable in backbone.weights:
        if variable.path.endswith("position_ids"):
            continue
        value = as_numpy(variable)
        variable.assign((value + rng.normal(scale=0.1, size=value.shape)).astype("float32"))
    backbone.siglip_head.logit_scale.assign(LOG_TEMPERATURE)
    backbone.siglip_head.logit_bias.assign(BIAS)
    return backbone


def keras_hub_preprocessor():
    tokenizer = keras_hub.models.SigLIPTokenizer(proto=train_sentencepiece(CORPUS, 24))
    image_converter = keras_hub.layers.SigLIPImageConverter(
        image_size=(IMAGE_SIZE, IMAGE_SIZE),
        scale=1 / 127.5,
        offset=-1.0,
        interpolation="bicubic",
        antialias=True,
    )
    return keras_hub.models.SigLIPPreprocessor(tokenizer, image_converter, sequence_length=LENGTH)


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    """A keras-hub preset directory (backbone and preprocessor) and its backbone."""
    backbone = keras_hub_backbone(np.random.default_rng(7))
    path = str(tmp_path_factory.mktemp("keras_hub") / "siglip")
    backbone.save_to_preset(path)
    keras_hub_preprocessor().save_to_preset(path)
    return path, backbone


@pytest.fixture
def inputs(rng):
    return random_batch(rng, 3, IMAGE_SIZE, LENGTH, VOCABULARY)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def assert_same_outputs(model, backbone, inputs):
    reference = backbone(inputs)
    np.testing.assert_allclose(
        as_numpy(model.encode_images(inputs["images"])),
        unit(as_numpy(backbone.get_vision_embeddings(inputs["images"]))),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        as_numpy(model.encode_texts(inputs["token_ids"])),
        unit(as_numpy(backbone.get_text_embeddings(inputs["token_ids"]))),
        rtol=1e-5,
        atol=1e-5,
    )
    logits = as_numpy(model(inputs))
    # keras-hub's vision_logits are (images, texts), like ours; text_logits the transpose.
    np.testing.assert_allclose(logits, as_numpy(reference["vision_logits"]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logits.T, as_numpy(reference["text_logits"]), rtol=1e-5, atol=1e-5)


def test_recognises_keras_hub_presets_only(preset, tmp_path):
    path, _ = preset
    assert is_keras_hub_preset(path)
    ours = str(tmp_path / "ours")
    pico = SigLIP.from_variant("Pico/8", image_size=16, sequence_length=8, vocabulary_size=30)
    pico.save_to_preset(ours)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    for path in (ours, str(broken), str(tmp_path / "missing"), None, 3):
        assert not is_keras_hub_preset(path)
    with pytest.raises(ValueError, match="not a keras-hub SigLIP preset directory"):
        load_keras_hub_preset(ours)


def test_loaded_model_matches_keras_hub(preset, inputs):
    path, backbone = preset
    model = load_keras_hub_preset(path)
    assert isinstance(model, SigLIP)
    assert (model.image_size, model.sequence_length, model.vocabulary_size) == (
        IMAGE_SIZE,
        LENGTH,
        VOCABULARY,
    )
    assert model.text_encoder.num_heads == 4 and model.image_encoder.num_heads == 2
    assert model.count_params() == backbone.count_params() - 2 * LENGTH
    assert float(model.log_temperature.numpy()) == pytest.approx(LOG_TEMPERATURE)
    assert float(model.bias.numpy()) == pytest.approx(BIAS)
    assert_same_outputs(model, backbone, inputs)


def test_in_memory_backbone_converts_too(preset, inputs):
    _, backbone = preset
    assert_same_outputs(from_keras_hub_backbone(backbone), backbone, inputs)
    with pytest.raises(TypeError, match="SigLIPBackbone"):
        from_keras_hub_backbone(keras.Sequential())


def test_from_preset_reads_keras_hub_directories(preset, inputs):
    path, backbone = preset
    assert_same_outputs(SigLIP.from_preset(path), backbone, inputs)
    assert SigLIPPreprocessor.from_preset(path).sequence_length == LENGTH


def test_load_weights_false_builds_the_architecture_only(preset, inputs):
    path, backbone = preset
    model = load_keras_hub_preset(path, load_weights=False)
    assert model.count_params() == backbone.count_params() - 2 * LENGTH
    assert float(model.bias.numpy()) == pytest.approx(-10.0)


def test_config_that_disagrees_with_the_weights_names_both_shapes(preset, tmp_path):
    path, _ = preset
    tampered = str(tmp_path / "tampered")
    shutil.copytree(path, tampered)
    config_file = os.path.join(tampered, "config.json")
    with open(config_file) as file:
        config = json.load(file)
    config["config"]["text_encoder"]["config"]["vocabulary_size"] = 400
    with open(config_file, "w") as file:
        json.dump(config, file)
    with pytest.raises(ValueError) as error:
        load_keras_hub_preset(tampered)
    message = str(error.value)
    assert "token_embedding" in message
    assert "(500, 64)" in message and "(400, 64)" in message


def test_architectures_our_towers_cannot_compute_are_refused(tmp_path, rng):
    path = str(tmp_path / "relu")
    keras_hub_backbone(rng, intermediate_activation="relu").save_to_preset(path)
    with pytest.raises(ValueError, match="intermediate_activation='relu'"):
        load_keras_hub_preset(path)


def test_preprocessor_matches_keras_hub(preset, rng):
    path, _ = preset
    preprocessor = preprocessor_from_keras_hub(path)
    assert isinstance(preprocessor, SigLIPPreprocessor)
    assert isinstance(preprocessor.tokenizer, SigLIPTokenizer)
    assert (preprocessor.image_size, preprocessor.sequence_length) == (IMAGE_SIZE, LENGTH)
    assert preprocessor.input_range == pytest.approx((0.0, 255.0))
    pixels = rng.uniform(0, 255, (len(TEXTS), IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    ours = preprocessor({"images": pixels, "texts": TEXTS})
    theirs = keras_hub.models.SigLIPPreprocessor.from_preset(path)(
        {"images": pixels, "prompts": TEXTS}
    )
    np.testing.assert_array_equal(ours["token_ids"], as_numpy(theirs["token_ids"]))
    np.testing.assert_allclose(ours["images"], as_numpy(theirs["images"]), atol=1e-5)


def test_preprocessor_needs_the_vocabulary(preset, tmp_path):
    path, _ = preset
    bare = str(tmp_path / "bare")
    shutil.copytree(path, bare)
    os.remove(os.path.join(bare, "assets", "tokenizer", "vocabulary.spm"))
    with pytest.raises(FileNotFoundError, match="vocabulary.spm"):
        preprocessor_from_keras_hub(bare)


def test_files_linked_outside_the_preset_are_refused(preset, tmp_path):
    path, _ = preset
    linked = tmp_path / "linked"
    shutil.copytree(path, linked)
    vocabulary = linked / "assets" / "tokenizer" / "vocabulary.spm"
    vocabulary.rename(tmp_path / "vocabulary.spm")
    vocabulary.symlink_to(tmp_path / "vocabulary.spm")
    with pytest.raises(ValueError, match=r"vocabulary\.spm resolves to .*outside the directory"):
        preprocessor_from_keras_hub(str(linked))
    # keras-hub's own loader reads the weights: every entry is checked before it runs.
    with pytest.raises(ValueError, match=r"vocabulary\.spm resolves to .*outside the directory"):
        load_keras_hub_preset(str(linked))
    vocabulary.unlink()
    (tmp_path / "vocabulary.spm").rename(vocabulary)
    (linked / "model.weights.h5").rename(tmp_path / "model.weights.h5")
    (linked / "model.weights.h5").symlink_to(tmp_path / "model.weights.h5")
    with pytest.raises(ValueError, match=r"model\.weights\.h5 resolves to"):
        load_keras_hub_preset(str(linked))
    assert load_keras_hub_preset(str(linked), load_weights=False).image_size == IMAGE_SIZE


def test_config_sizes_are_refused_before_anything_is_built(preset, tmp_path, monkeypatch):
    path, _ = preset
    tampered = tmp_path / "tampered"
    shutil.copytree(path, tampered)
    config = json.loads((tampered / "config.json").read_text())
    config["config"]["vision_encoder"]["config"]["hidden_dim"] = 10_000_000
    (tampered / "config.json").write_text(json.dumps(config))
    from keras_siglip.convert import weights

    def refuse_to_build(*arguments, **keywords):
        raise AssertionError("a model was built from a config that should have been refused")

    monkeypatch.setattr(weights, "build_siglip", refuse_to_build)
    with pytest.raises(ValueError, match=r"`vision_encoder\.config\.hidden_dim` as 10,000,000"):
        load_keras_hub_preset(str(tampered))
