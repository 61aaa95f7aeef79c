"""Preset directories: `save_to_preset` / `from_preset` round trips and clear errors."""

import functools
import json
import os
import shutil

import keras
import numpy as np
import pytest
from helpers import pico as pico_model

from keras_siglip import SigLIP, SigLIPPreprocessor, SigLIPTokenizer
from keras_siglip.preprocessing import train_sentencepiece

CORPUS = [f"a {size} {animal} on the {place}" for size in ("big", "small") for animal in ("cat", "dog", "fox") for place in ("grass", "road")]

# The tiny model at the sizes these presets use.
pico = functools.partial(pico_model, image_size=16, sequence_length=8)


@pytest.fixture(scope="module")
def tokenizer():
    return SigLIPTokenizer(train_sentencepiece(CORPUS, 22), sequence_length=8)


@pytest.fixture
def inputs(rng):
    return {
        "images": rng.uniform(-1, 1, (3, 16, 16, 3)).astype("float32"),
        "token_ids": rng.integers(0, 20, (3, 8)).astype("int32"),
    }


def test_round_trip_gives_the_same_logits_and_preprocessing(tmp_path, tokenizer, inputs):
    model = pico()
    model.bias.assign(-3.5)
    preprocessor = SigLIPPreprocessor(tokenizer, image_size=16)
    path = str(tmp_path / "preset")
    model.save_to_preset(path, preprocessor=preprocessor, description="a test", metadata={"steps": 3})

    expected_files = {"config.json", "metadata.json", "model.weights.h5", "preprocessor.json", "tokenizer.json"}
    assert expected_files <= set(os.listdir(path))
    assert os.path.isfile(os.path.join(path, "assets", "tokenizer", "vocabulary.spm"))
    with open(os.path.join(path, "metadata.json")) as handle:
        metadata = json.load(handle)
    assert metadata["parameter_count"] == model.count_params()
    assert metadata["description"] == "a test" and metadata["steps"] == 3

    restored = SigLIP.from_preset(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(inputs)), keras.ops.convert_to_numpy(model(inputs)))
    assert float(keras.ops.convert_to_numpy(restored.bias)) == -3.5
    texts = ["a big cat on the road", "A small FOX!"]
    np.testing.assert_array_equal(SigLIPPreprocessor.from_preset(path)({"texts": texts})["token_ids"], tokenizer(texts))

    fresh = SigLIP.from_preset(path, load_weights=False)
    assert fresh.count_params() == model.count_params()
    assert float(keras.ops.convert_to_numpy(fresh.bias)) == -10.0


def test_a_trained_model_is_saved_without_its_optimizer_state(tmp_path, inputs):
    import h5py

    model = pico()
    model.compile()
    model.fit(inputs, epochs=1, verbose=0)
    path = str(tmp_path / "preset")
    model.save_to_preset(path)
    with h5py.File(os.path.join(path, "model.weights.h5"), "r") as handle:
        names = []
        handle.visit(names.append)
    assert names and not any(name.startswith("optimizer") for name in names)
    restored = SigLIP.from_preset(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(inputs)), keras.ops.convert_to_numpy(model(inputs)))


def test_missing_and_corrupt_files_are_named(tmp_path, inputs):
    path = str(tmp_path / "preset")
    pico().save_to_preset(path)

    os.remove(os.path.join(path, "model.weights.h5"))
    with pytest.raises(FileNotFoundError, match="has no model.weights.h5; pass `load_weights=False`"):
        SigLIP.from_preset(path)

    with open(os.path.join(path, "model.weights.h5"), "wb") as handle:
        handle.write(b"not an HDF5 file")
    with pytest.raises(ValueError, match="model.weights.h5.*not a readable HDF5 weights file"):
        SigLIP.from_preset(path)

    with open(os.path.join(path, "config.json"), "w") as handle:
        handle.write("{ truncated")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        SigLIP.from_preset(path)

    with open(os.path.join(path, "config.json"), "w") as handle:
        json.dump({"class_name": "Sequential", "config": {}}, handle)
    with pytest.raises(ValueError, match="holds a 'Sequential', not a 'SigLIP'"):
        SigLIP.from_preset(path)

    with pytest.raises(ValueError, match="the directory has no config.json, so it is none of"):
        SigLIP.from_preset(str(tmp_path))
    with pytest.raises(ValueError, match="Unknown preset 'siglip_tiny'.*siglip_base_patch16_224"):
        SigLIP.from_preset("siglip_tiny")


def test_weights_of_another_shape_are_named_with_both_shapes(tmp_path):
    path = str(tmp_path / "preset")
    pico(vocabulary_size=40).save_to_preset(path)
    other = str(tmp_path / "other")
    pico(vocabulary_size=55).save_to_preset(other)
    shutil.copy(os.path.join(other, "model.weights.h5"), os.path.join(path, "model.weights.h5"))
    with pytest.raises(ValueError, match=r"embedding/vars/0 has shape \(55, 64\) in the file but \(40, 64\) in the model"):
        SigLIP.from_preset(path)


def test_a_preprocessor_that_does_not_fit_the_model_is_refused(tmp_path, tokenizer):
    model = pico()
    with pytest.raises(ValueError, match="resizes images to 32 pixels but the image tower takes 16"):
        model.save_to_preset(str(tmp_path / "a"), preprocessor=SigLIPPreprocessor(tokenizer, image_size=32))
    long_text = SigLIPTokenizer(tokenizer.proto, sequence_length=12)
    with pytest.raises(ValueError, match="pads text to 12 tokens but the text tower takes 8"):
        model.save_to_preset(str(tmp_path / "b"), preprocessor=SigLIPPreprocessor(long_text, image_size=16))
    with pytest.raises(ValueError, match="fixes the architecture; arguments \\['image_size'\\]"):
        model.save_to_preset(str(tmp_path / "c"))
        SigLIP.from_preset(str(tmp_path / "c"), image_size=32)


def test_preprocessor_from_preset_explains_builtin_names_and_bad_paths(tmp_path):
    with pytest.raises(ValueError, match="builtin architecture without weights.*carries no tokenizer"):
        SigLIPPreprocessor.from_preset("siglip_pico_patch8_32")
    with pytest.raises(ValueError, match="Unknown preset .*nowhere.*no existing local path"):
        SigLIPPreprocessor.from_preset(str(tmp_path / "nowhere"))


def test_a_failed_save_leaves_the_earlier_preset_untouched(tmp_path, inputs, monkeypatch):
    path = str(tmp_path / "preset")
    good = pico()
    good.bias.assign(-2.0)
    good.save_to_preset(path, metadata={"run": "good"})
    before = {name: open(os.path.join(path, name), "rb").read() for name in os.listdir(path)}

    from keras_siglip.presets import directory

    def broken(model, file):
        with open(file, "wb") as handle:
            handle.write(b"half a weights file")
        raise OSError("No space left on device")

    monkeypatch.setattr(directory, "_save_model_weights_only", broken)
    with pytest.raises(OSError, match="No space left"):
        pico().save_to_preset(path, metadata={"run": "bad"})
    after = {name: open(os.path.join(path, name), "rb").read() for name in os.listdir(path)}
    assert after == before
    assert not [name for name in os.listdir(tmp_path) if name != "preset"], "scratch directory left behind"
    monkeypatch.undo()
    np.testing.assert_array_equal(SigLIP.from_preset(path).predict(inputs, verbose=0), good.predict(inputs, verbose=0))


def test_a_new_save_replaces_the_old_preset_files_and_keeps_other_files(tmp_path, tokenizer):
    path = str(tmp_path / "preset")
    pico().save_to_preset(path, preprocessor=SigLIPPreprocessor(tokenizer, image_size=16))
    with open(os.path.join(path, "notes.txt"), "w") as handle:
        handle.write("mine")
    pico().save_to_preset(path)
    assert sorted(os.listdir(path)) == ["config.json", "metadata.json", "model.weights.h5", "notes.txt"]
    with pytest.raises(FileNotFoundError, match="preprocessor.json' does not exist"):
        SigLIPPreprocessor.from_preset(path)


def test_preset_files_that_link_outside_the_directory_are_refused(tmp_path, tokenizer):
    path = str(tmp_path / "preset")
    pico().save_to_preset(path, preprocessor=SigLIPPreprocessor(tokenizer, image_size=16))
    outside = str(tmp_path / "elsewhere.h5")
    shutil.move(os.path.join(path, "model.weights.h5"), outside)
    os.symlink(outside, os.path.join(path, "model.weights.h5"))
    with pytest.raises(ValueError, match="outside the preset directory"):
        SigLIP.from_preset(path)
    vocabulary = os.path.join(path, "assets", "tokenizer", "vocabulary.spm")
    shutil.move(vocabulary, str(tmp_path / "vocabulary.spm"))
    os.symlink(os.path.join("..", "..", "..", "vocabulary.spm"), vocabulary)
    with pytest.raises(ValueError, match="outside the preset directory"):
        SigLIPPreprocessor.from_preset(path)
