"""`SigLIPPreprocessor`: paired inputs, tf.data, and its files."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_siglip.preprocessing import (
    SigLIPPreprocessor,
    SigLIPTokenizer,
    preprocess_images,
    train_sentencepiece,
)

CAPTIONS = [
    f"A {size} {colour} {shape}, seen from {side}."
    for size in ("small", "large", "tiny")
    for colour in ("red", "blue", "green", "yellow")
    for shape in ("circle", "square", "triangle", "star")
    for side in ("above", "below", "the left")
]


@pytest.fixture(scope="module")
def tokenizer():
    return SigLIPTokenizer(train_sentencepiece(CAPTIONS, 36), sequence_length=10)


@pytest.fixture
def preprocessor(tokenizer):
    return SigLIPPreprocessor(tokenizer, image_size=16)


@pytest.fixture
def batch(rng):
    return {
        "images": rng.integers(0, 256, (3, 20, 28, 3), dtype=np.uint8),
        "texts": ["A red circle.", "a BLUE star, seen from above", "green"],
    }


def test_maps_images_and_texts_to_model_inputs(preprocessor, tokenizer, batch):
    outputs = preprocessor(batch)
    assert sorted(outputs) == ["images", "token_ids"]
    assert outputs["images"].shape == (3, 16, 16, 3) and outputs["images"].dtype == np.float32
    assert outputs["token_ids"].shape == (3, 10) and outputs["token_ids"].dtype == np.int32
    np.testing.assert_array_equal(outputs["images"], preprocess_images(batch["images"], 16))
    np.testing.assert_array_equal(outputs["token_ids"], tokenizer(batch["texts"]))
    assert preprocessor.sequence_length == 10

    assert sorted(preprocessor({"texts": batch["texts"]})) == ["token_ids"]
    assert sorted(preprocessor({"images": batch["images"]})) == ["images"]
    single = preprocessor({"images": batch["images"][0], "texts": batch["texts"][0]})
    assert single["images"].shape == (16, 16, 3) and single["token_ids"].shape == (10,)
    np.testing.assert_array_equal(single["token_ids"], outputs["token_ids"][0])


def test_float_images_with_an_input_range(tokenizer, batch):
    scaled = SigLIPPreprocessor(tokenizer, 16, input_range=(-1, 1))
    images = batch["images"].astype("float32") / 127.5 - 1
    np.testing.assert_allclose(
        scaled({"images": images})["images"], preprocess_images(batch["images"], 16), atol=1e-5
    )


def test_same_outputs_inside_tf_data(preprocessor, batch):
    eager = preprocessor(batch)
    dataset = tf.data.Dataset.from_tensor_slices(batch)

    unbatched = list(dataset.map(preprocessor))
    np.testing.assert_allclose(
        np.stack([x["images"] for x in unbatched]), eager["images"], atol=1e-6
    )
    np.testing.assert_array_equal(np.stack([x["token_ids"] for x in unbatched]), eager["token_ids"])

    batched = list(dataset.batch(2).map(preprocessor))
    assert [len(x["token_ids"]) for x in batched] == [2, 1]
    np.testing.assert_allclose(
        np.concatenate([x["images"] for x in batched]), eager["images"], atol=1e-6
    )
    np.testing.assert_array_equal(
        np.concatenate([x["token_ids"] for x in batched]), eager["token_ids"]
    )


def test_images_and_texts_must_pair_up(preprocessor, batch):
    with pytest.raises(ValueError, match="`images` has 3 images but `texts` has 2 texts"):
        preprocessor({"images": batch["images"], "texts": batch["texts"][:2]})
    with pytest.raises(ValueError, match="`images` is a batch and `texts` is one text"):
        preprocessor({"images": batch["images"], "texts": "a red circle"})

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 20, 28, 3], tf.uint8),
            tf.TensorSpec([None], tf.string),
        ]
    )
    def unknown_batch_sizes(images, texts):
        return preprocessor({"images": images, "texts": texts})

    outputs = unknown_batch_sizes(batch["images"], tf.constant(batch["texts"]))
    assert outputs["token_ids"].shape == (3, 10)
    with pytest.raises(tf.errors.InvalidArgumentError, match="different batch sizes"):
        unknown_batch_sizes(batch["images"], tf.constant(batch["texts"][:1]))


def test_bad_inputs_are_explained(preprocessor, tokenizer):
    with pytest.raises(ValueError, match=r'only have the keys "images" and "texts"; .*\'text\''):
        preprocessor({"text": ["a circle"]})
    with pytest.raises(ValueError, match="`inputs` must be a dict"):
        preprocessor(["a circle"])
    with pytest.raises(ValueError, match=r"`texts\[1\]` is empty after canonicalisation"):
        preprocessor({"texts": ["a circle", "..."]})
    with pytest.raises(TypeError, match="`tokenizer` must be a SigLIPTokenizer, got str"):
        SigLIPPreprocessor("vocabulary.spm", 16)
    with pytest.raises(ValueError, match="`image_size` must be a positive integer, got -1"):
        SigLIPPreprocessor(tokenizer, -1)


# --- Files -------------------------------------------------------------------------


def test_save_and_load_give_the_same_outputs(tokenizer, batch, tmp_path):
    custom = SigLIPTokenizer(tokenizer.proto, sequence_length=7, pad_id=0)
    preprocessor = SigLIPPreprocessor(custom, image_size=12, input_range=(0, 255))
    preprocessor.save_to_directory(tmp_path / "preset")

    preset = tmp_path / "preset"
    names = sorted(str(path.relative_to(preset)) for path in preset.rglob("*"))
    assert names == [
        "assets",
        "assets/tokenizer",
        "assets/tokenizer/vocabulary.spm",
        "preprocessor.json",
        "tokenizer.json",
    ]
    saved = json.loads((tmp_path / "preset" / "preprocessor.json").read_text())
    assert saved == {
        "class_name": "SigLIPPreprocessor",
        "config": {"image_size": 12, "input_range": [0.0, 255.0]},
    }
    saved = json.loads((tmp_path / "preset" / "tokenizer.json").read_text())
    assert saved["config"] == {"sequence_length": 7, "canonicalize": True, "pad_id": 0}

    loaded = SigLIPPreprocessor.from_directory(tmp_path / "preset")
    assert loaded.get_config() == preprocessor.get_config()
    assert loaded.tokenizer.get_config() == custom.get_config()
    expected, actual = preprocessor(batch), loaded(batch)
    np.testing.assert_array_equal(actual["images"], expected["images"])
    np.testing.assert_array_equal(actual["token_ids"], expected["token_ids"])
    assert actual["token_ids"][2].tolist()[-1] == 0


@pytest.fixture
def saved(preprocessor, tmp_path):
    preprocessor.save_to_directory(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "name", ["preprocessor.json", "tokenizer.json", "assets/tokenizer/vocabulary.spm"]
)
def test_missing_files_are_named(saved, name):
    (saved / name).unlink()
    with pytest.raises(FileNotFoundError, match=f"'{saved / name}' does not exist"):
        SigLIPPreprocessor.from_directory(saved)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("preprocessor.json", "{not json", "is not valid JSON"),
        ("tokenizer.json", "\xff\xfe", "is not valid JSON"),
        ("preprocessor.json", "[1, 2]", 'must hold {"class_name": "SigLIPPreprocessor"'),
        ("tokenizer.json", '{"class_name": "Evil", "config": {}}', "must hold"),
        (
            "preprocessor.json",
            '{"class_name": "SigLIPPreprocessor", "config": {"image_size": 0}}',
            "The config in .* is invalid: `image_size` must be a positive integer, got 0",
        ),
        (
            "tokenizer.json",
            '{"class_name": "SigLIPTokenizer", "config": {"sequence_length": 8, "module": "os"}}',
            "The config in .* is invalid: .*unexpected keyword argument 'module'",
        ),
        (
            "tokenizer.json",
            '{"class_name": "SigLIPTokenizer", "config": {"pad_id": 100000}}',
            r"The config in .* is invalid: `pad_id` must be an id in \[0, 36\)",
        ),
        ("assets/tokenizer/vocabulary.spm", "garbage", "`proto` is not a serialized SentencePiece"),
    ],
)
def test_corrupt_files_are_named(saved, name, content, message):
    path = saved / name
    path.write_bytes(content.encode("latin-1") if content.startswith("\xff") else content.encode())
    with pytest.raises(ValueError, match=message) as error:
        SigLIPPreprocessor.from_directory(saved)
    assert repr(str(path)) in str(error.value)


def test_a_missing_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory '.*nowhere' does not exist"):
        SigLIPPreprocessor.from_directory(tmp_path / "nowhere")
