"""Fine-tuning from a preset keeps its weights, tokenizer and sizes, and locks towers."""

import keras
import numpy as np
import pytest

from keras_siglip import SigLIP
from keras_siglip.preprocessing import (
    SigLIPPreprocessor,
    SigLIPTokenizer,
    train_sentencepiece,
)
from keras_siglip.training.fine_tune import prepare_fine_tuning

CAPTIONS = ["a red circle", "a blue square", "a green star", "two red squares", "one blue star"]
IMAGE_SIZE, LENGTH = 16, 7


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    tokenizer = SigLIPTokenizer(
        train_sentencepiece(CAPTIONS * 4, 24, hard_vocab_limit=False), sequence_length=LENGTH
    )
    model = SigLIP.from_variant(
        "Pico/8",
        image_size=IMAGE_SIZE,
        sequence_length=LENGTH,
        vocabulary_size=tokenizer.vocabulary_size,
    )
    path = str(tmp_path_factory.mktemp("fine_tune") / "preset")
    model.save_to_preset(path, preprocessor=SigLIPPreprocessor(tokenizer, IMAGE_SIZE))
    return path, model, tokenizer


def test_loads_the_preset_weights_and_tokenizer(preset):
    path, saved, tokenizer = preset
    model, preprocessor = prepare_fine_tuning(path)
    assert model.locked_towers == ()
    for actual, expected in zip(model.weights, saved.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(actual), keras.ops.convert_to_numpy(expected)
        )
    assert preprocessor.image_size == IMAGE_SIZE
    np.testing.assert_array_equal(preprocessor.tokenizer(CAPTIONS), tokenizer(CAPTIONS))


def test_accepts_settings_that_agree_with_the_preset(preset):
    path, _, tokenizer = preset
    model, _ = prepare_fine_tuning(
        path,
        image_size=IMAGE_SIZE,
        sequence_length=LENGTH,
        vocabulary_size=tokenizer.vocabulary_size,
    )
    assert (model.image_size, model.sequence_length) == (IMAGE_SIZE, LENGTH)


@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("image_size", 64, f"`--image-size` 64 contradicts the preset's image size {IMAGE_SIZE}"),
        (
            "sequence_length",
            16,
            f"`--sequence-length` 16 contradicts the preset's text length {LENGTH}",
        ),
        (
            "vocabulary_size",
            1000,
            "`--vocabulary-size` 1000 contradicts the preset's vocabulary size",
        ),
    ],
)
def test_refuses_settings_that_contradict_the_preset_by_name(preset, setting, value, message):
    names = {
        "image_size": "--image-size",
        "sequence_length": "--sequence-length",
        "vocabulary_size": "--vocabulary-size",
    }
    with pytest.raises(ValueError, match=message):
        prepare_fine_tuning(preset[0], argument_names=names, **{setting: value})
    with pytest.raises(ValueError, match=f"`{setting}` {value} contradicts"):
        prepare_fine_tuning(preset[0], **{setting: value})


@pytest.mark.parametrize("locked", ["image", "text", ("image",), ()])
def test_locks_the_towers_asked_for(preset, locked):
    model, _ = prepare_fine_tuning(preset[0], locked_towers=locked)
    expected = (locked,) if isinstance(locked, str) else tuple(locked)
    assert model.locked_towers == expected
    assert model.image_encoder.trainable == ("image" not in expected)
    assert model.text_encoder.trainable == ("text" not in expected)


def test_a_locked_tower_stays_put_while_the_other_fine_tunes(preset, rng):
    model, preprocessor = prepare_fine_tuning(preset[0], locked_towers="image")
    model.compile(learning_rate=1e-2)
    before_image = [keras.ops.convert_to_numpy(v) for v in model.image_encoder.weights]
    before_text = [keras.ops.convert_to_numpy(v) for v in model.text_encoder.weights]
    batch = preprocessor(
        {"images": rng.uniform(0, 1, (4, 20, 20, 3)).astype("float32"), "texts": CAPTIONS[:4]}
    )
    model.fit(batch, epochs=2, verbose=0)
    for old, new in zip(before_image, model.image_encoder.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(new), old)
    assert any(
        not np.array_equal(keras.ops.convert_to_numpy(new), old)
        for old, new in zip(before_text, model.text_encoder.weights)
    )


def test_refuses_unknown_towers(preset):
    with pytest.raises(ValueError, match="`--locked-towers` must be"):
        prepare_fine_tuning(
            preset[0], locked_towers="vision", argument_names={"locked_towers": "--locked-towers"}
        )
