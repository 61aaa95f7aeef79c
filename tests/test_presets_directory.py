"""Preset directories: `save_to_preset` / `from_preset` round trips and clear errors."""

import functools
import json
import os
import shutil

import keras
import numpy as np
import pytest
from helpers import pico as pico_model
from helpers import random_batch

from keras_siglip import SigLIP, SigLIPPreprocessor, SigLIPTokenizer
from keras_siglip.preprocessing import train_sentencepiece

CORPUS = [
    f"a {size} {animal} on the {place}"
    for size in ("big", "small")
    for animal in ("cat", "dog", "fox")
    for place in ("grass", "road")
]

# The tiny model at the sizes these presets use.
pico = functools.partial(pico_model, image_size=16, sequence_length=8)


@pytest.fixture(scope="module")
def tokenizer():
    return SigLIPTokenizer(train_sentencepiece(CORPUS, 22), sequence_length=8)


@pytest.fixture
def inputs(rng):
    return random_batch(rng, 3, image_size=16, sequence_length=8, vocabulary_size=20)


def test_round_trip_gives_the_same_logits_and_preprocessing(tmp_path, tokenizer, inputs):
    model = pico()
    model.bias.assign(-3.5)
    preprocessor = SigLIPPreprocessor(tokenizer, image_size=16)
    path = str(tmp_path / "preset")
    model.save_to_preset(
        path, preprocessor=preprocessor, description="a test", metadata={"steps": 3}
    )

    expected_files = {
        "config.json",
        "metadata.json",
        "model.weights.h5",
        "preprocessor.json",
        "tokenizer.json",
    }
    assert expected_files <= set(os.listdir(path))
    assert os.path.isfile(os.path.join(path, "assets", "tokenizer", "vocabulary.spm"))
    with open(os.path.join(path, "metadata.json")) as handle:
        metadata = json.load(handle)
    assert metadata["parameter_count"] == model.count_params()
    assert metadata["description"] == "a test" and metadata["steps"] == 3

    restored = SigLIP.from_preset(path)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored(inputs)), keras.ops.convert_to_numpy(model(inputs))
    )
    assert float(keras.ops.convert_to_numpy(restored.bias)) == -3.5
    texts = ["a big cat on the road", "A small FOX!"]
    np.testing.assert_array_equal(
        SigLIPPreprocessor.from_preset(path)({"texts": texts})["token_ids"], tokenizer(texts)
    )

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
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored(inputs)), keras.ops.convert_to_numpy(model(inputs))
    )


def test_missing_and_corrupt_files_are_named(tmp_path, inputs):
    path = str(tmp_path / "preset")
    pico().save_to_preset(path)

    os.remove(os.path.join(path, "model.weights.h5"))
    with pytest.raises(
        FileNotFoundError, match="has no model.weights.h5; pass `load_weights=False`"
    ):
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
    with pytest.raises(
        ValueError,
        match=r"embedding/vars/0 has shape \(55, 64\) in the file but \(40, 64\) in the model",
    ):
        SigLIP.from_preset(path)


def test_a_preprocessor_that_does_not_fit_the_model_is_refused(tmp_path, tokenizer):
    model = pico()
    with pytest.raises(
        ValueError, match="resizes images to 32 pixels but the image tower takes 16"
    ):
        model.save_to_preset(
            str(tmp_path / "a"), preprocessor=SigLIPPreprocessor(tokenizer, image_size=32)
        )
    long_text = SigLIPTokenizer(tokenizer.proto, sequence_length=12)
    with pytest.raises(ValueError, match="pads text to 12 tokens but the text tower takes 8"):
        model.save_to_preset(
            str(tmp_path / "b"), preprocessor=SigLIPPreprocessor(long_text, image_size=16)
        )
    with pytest.raises(ValueError, match="fixes the architecture; arguments \\['image_size'\\]"):
        model.save_to_preset(str(tmp_path / "c"))
        SigLIP.from_preset(str(tmp_path / "c"), image_size=32)


def test_preprocessor_from_preset_explains_builtin_names_and_bad_paths(tmp_path):
    with pytest.raises(
        ValueError, match="builtin architecture without weights.*carries no tokenizer"
    ):
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
    assert not [name for name in os.listdir(tmp_path) if name != "preset"], (
        "scratch directory left behind"
    )
    monkeypatch.undo()
    np.testing.assert_array_equal(
        SigLIP.from_preset(path).predict(inputs, verbose=0), good.predict(inputs, verbose=0)
    )


def test_a_new_save_replaces_the_old_preset_files_and_keeps_other_files(tmp_path, tokenizer):
    path = str(tmp_path / "preset")
    pico().save_to_preset(path, preprocessor=SigLIPPreprocessor(tokenizer, image_size=16))
    with open(os.path.join(path, "notes.txt"), "w") as handle:
        handle.write("mine")
    pico().save_to_preset(path)
    assert sorted(os.listdir(path)) == [
        "config.json",
        "metadata.json",
        "model.weights.h5",
        "notes.txt",
    ]
    with pytest.raises(FileNotFoundError, match="preprocessor.json' does not exist"):
        SigLIPPreprocessor.from_preset(path)


def test_preset_files_that_link_outside_the_directory_are_refused(tmp_path, tokenizer):
    path = str(tmp_path / "preset")
    pico().save_to_preset(path, preprocessor=SigLIPPreprocessor(tokenizer, image_size=16))
    outside = str(tmp_path / "elsewhere.h5")
    shutil.move(os.path.join(path, "model.weights.h5"), outside)
    os.symlink(outside, os.path.join(path, "model.weights.h5"))
    with pytest.raises(ValueError, match=r"model\.weights\.h5 resolves to .*outside the directory"):
        SigLIP.from_preset(path)
    vocabulary = os.path.join(path, "assets", "tokenizer", "vocabulary.spm")
    shutil.move(vocabulary, str(tmp_path / "vocabulary.spm"))
    os.symlink(os.path.join("..", "..", "..", "vocabulary.spm"), vocabulary)
    with pytest.raises(ValueError, match=r"vocabulary\.spm resolves to .*outside the directory"):
        SigLIPPreprocessor.from_preset(path)


# The server of `test_a_killed_save_leaves_the_old_or_the_new_preset`. It loads both
# presets once, on the NumPy backend (no runtime threads, so it can fork), reports how
# long a save takes, then for each "TARGET" line forks a child that saves the two
# presets into TARGET in turn until it is killed, and reports the child's pid.
SAVER = """
import os, sys, time
from keras_siglip import SigLIP
old, new = SigLIP.from_preset(sys.argv[1]), SigLIP.from_preset(sys.argv[2])
start = time.perf_counter()
new.save_to_preset(sys.argv[3])
print(time.perf_counter() - start, flush=True)
for line in sys.stdin:
    if line.startswith("reap "):
        os.waitpid(int(line.split()[1]), 0)
        print("reaped", flush=True)
        continue
    pid = os.fork()
    if pid == 0:
        while True:
            new.save_to_preset(line.strip(), description="new")
            old.save_to_preset(line.strip(), description="old")
    print(pid, flush=True)
"""


@pytest.mark.slow
def test_a_killed_save_leaves_the_old_or_the_new_preset(tmp_path, inputs):
    import random
    import signal
    import subprocess
    import sys
    import time

    # Different vocabularies: an old config beside new weights would not even load.
    old, new = pico(), pico(vocabulary_size=41)
    sources = {"old": str(tmp_path / "old"), "new": str(tmp_path / "new")}
    old.save_to_preset(sources["old"], description="old")
    new.save_to_preset(sources["new"])
    expected = {name: model.get_weights() for name, model in (("old", old), ("new", new))}
    server = subprocess.Popen(
        [sys.executable, "-c", SAVER, sources["old"], sources["new"], str(tmp_path / "timing")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "numpy"},
    )
    generator = random.Random(24)
    found = []
    try:
        save_seconds = float(server.stdout.readline())
        for trial in range(20):
            target = str(tmp_path / f"target{trial}")
            shutil.copytree(sources["old"], target)
            server.stdin.write(target + "\n")
            server.stdin.flush()
            pid = int(server.stdout.readline())
            # Anywhere in the first two saves (new over old, then old over new).
            time.sleep(generator.uniform(0.0, 2.0 * save_seconds))
            os.kill(pid, signal.SIGKILL)
            server.stdin.write(f"reap {pid}\n")
            server.stdin.flush()
            assert server.stdout.readline().strip() == "reaped"
            loaded = SigLIP.from_preset(target).get_weights()
            matches = [
                name
                for name, weights in expected.items()
                if len(weights) == len(loaded)
                and all(np.array_equal(a, b) for a, b in zip(weights, loaded))
            ]
            assert len(matches) == 1, (
                f"trial {trial}: {target} holds neither the old nor the new preset"
            )
            with open(os.path.join(target, "metadata.json")) as handle:
                assert json.load(handle)["description"] == matches[0], f"trial {trial}: mixed files"
            found.append(matches[0])
    finally:
        server.kill()
        server.wait()
    # The kills landed at different moments: some before a swap, some after.
    assert set(found) == {"old", "new"}, found


def test_a_save_recovers_from_a_kill_between_the_two_renames(tmp_path, inputs, monkeypatch):
    from keras_siglip.presets import directory

    path = str(tmp_path / "preset")
    old = pico()
    old.save_to_preset(path)
    # The two-rename fallback, killed after its first rename: no `path`, a backup.
    os.rename(path, str(tmp_path / ".preset.preset-backup"))
    restored = SigLIP.from_preset(path)
    np.testing.assert_array_equal(
        restored.predict(inputs, verbose=0), old.predict(inputs, verbose=0)
    )
    assert os.listdir(tmp_path) == ["preset"]

    # The fallback itself, on systems without renameat2, swaps complete presets too.
    monkeypatch.setattr(directory, "_exchange", lambda first, second: False)
    new = pico()
    with open(os.path.join(path, "notes.txt"), "w") as handle:
        handle.write("mine")
    new.save_to_preset(path)
    np.testing.assert_array_equal(
        SigLIP.from_preset(path).predict(inputs, verbose=0), new.predict(inputs, verbose=0)
    )
    assert sorted(os.listdir(tmp_path)) == ["preset"]
    assert open(os.path.join(path, "notes.txt")).read() == "mine"


def test_scratch_directories_of_killed_saves_are_removed_by_the_next_save(tmp_path):
    path = str(tmp_path / "preset")
    dead = subprocess_pid_that_has_exited()
    abandoned = tmp_path / f".preset.partial-{dead}-abcd"
    abandoned.mkdir()
    (abandoned / "config.json").write_text("{}")
    pico().save_to_preset(path)
    assert sorted(os.listdir(tmp_path)) == ["preset"]


def subprocess_pid_that_has_exited():
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


class _Crash(BaseException):
    """Stands for a kill: not an `Exception`, so no handler in the save catches it."""


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two_renames"])
def test_a_save_stopped_at_any_file_operation_leaves_the_old_or_the_new_preset(
    tmp_path, monkeypatch, exchange
):
    import shutil as shutil_module

    from keras_siglip.presets import directory

    if not exchange:
        monkeypatch.setattr(directory, "_exchange", lambda first, second: False)
    old, new = pico(), pico(vocabulary_size=41)
    expected = {"old": old.get_weights(), "new": new.get_weights()}
    source = str(tmp_path / "source")
    old.save_to_preset(source, description="old")
    operations = [
        (os, "rename"),
        (os, "replace"),
        (os, "remove"),
        (os, "link"),
        (shutil_module, "rmtree"),
        (directory, "_exchange"),
    ]
    originals = {name: getattr(module, name) for module, name in operations}
    found, step = [], 0
    while True:
        target = str(tmp_path / f"target{step}")
        shutil.copytree(source, target)
        calls = [0]

        def counted(name, stop_at=step, calls=calls):
            def operation(*args, **kwargs):
                calls[0] += 1
                if calls[0] == stop_at + 1:
                    raise _Crash
                return originals[name](*args, **kwargs)

            return operation

        for module, name in operations:
            monkeypatch.setattr(module, name, counted(name))
        try:
            new.save_to_preset(target, description="new")
            crashed = False
        except _Crash:
            crashed = True
        finally:
            for module, name in operations:
                monkeypatch.setattr(module, name, originals[name])
        loaded = SigLIP.from_preset(target).get_weights()
        with open(os.path.join(target, "metadata.json")) as handle:
            description = json.load(handle)["description"]
        assert all(np.array_equal(a, b) for a, b in zip(expected[description], loaded)), step
        assert len(loaded) == len(expected[description])
        found.append(description)
        if not crashed:
            break
        step += 1
    assert found[0] == "old" and found[-1] == "new" and step >= 2, found


def test_a_model_with_non_finite_weights_is_refused_unless_allowed(tmp_path, inputs):
    path = str(tmp_path / "preset")
    good = pico()
    good.save_to_preset(path, description="good")
    bad = pico()
    bad.bias.assign(float("nan"))
    kernel = bad.image_encoder.weights[0]
    values = keras.ops.convert_to_numpy(kernel).copy()
    values.flat[:3] = [np.inf, -np.inf, np.nan]
    kernel.assign(values)
    with pytest.raises(ValueError, match=r"2 variable\(s\).*NaN or infinite") as error:
        bad.save_to_preset(path)
    assert bad.bias.path in str(error.value) and f"{kernel.path} (3 of {values.size})" in str(
        error.value
    )
    assert "allow_non_finite=True" in str(error.value)
    np.testing.assert_array_equal(
        SigLIP.from_preset(path).predict(inputs, verbose=0), good.predict(inputs, verbose=0)
    )

    bad.save_to_preset(path, allow_non_finite=True)
    assert np.isnan(float(keras.ops.convert_to_numpy(SigLIP.from_preset(path).bias)))
