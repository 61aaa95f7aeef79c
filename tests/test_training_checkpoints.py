"""Resumable checkpoints: a resumed run trains exactly as the uninterrupted one."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from training_run import (
    DATA_SEED,
    PEAK_LEARNING_RATE,
    WARMUP_STEPS,
    build_model,
    draw,
    run,
)

from keras_siglip.preprocessing import (
    SigLIPPreprocessor,
    SigLIPTokenizer,
    train_sentencepiece,
)
from keras_siglip.training.checkpoints import (
    CheckpointCallback,
    ResumableBatches,
    checkpoint_directory,
    latest_checkpoint,
    list_checkpoints,
    restore,
    resume_fit_arguments,
    save_checkpoint,
)

HERE = os.path.dirname(os.path.abspath(__file__))
# The script imports the package of this checkout, not an installed copy.
ROOT = os.path.dirname(HERE)


def as_numpy(variables):
    return [keras.ops.convert_to_numpy(variable) for variable in variables]


def learning_rate(model):
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def numpy_schedule(step, total_steps):
    """Linear warm-up to the peak, then cosine decay over `total_steps` (Keras' CosineDecay)."""
    if step < WARMUP_STEPS:
        return PEAK_LEARNING_RATE * step / WARMUP_STEPS
    progress = min(step - WARMUP_STEPS, total_steps) / total_steps
    return PEAK_LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * progress))


def assert_same(actual, expected, rtol=1e-6, atol=1e-7):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


def test_resumed_run_matches_the_uninterrupted_run(tmp_path):
    half, total = 3, 6
    straight = build_model(total)
    straight_stream = ResumableBatches(draw, np.random.default_rng(DATA_SEED))
    straight.fit(straight_stream.batches(), **resume_fit_arguments(total), shuffle=False, verbose=0)

    # Half the steps, with a checkpoint at the half.
    directory = checkpoint_directory(tmp_path)
    first = build_model(total)
    first_stream = ResumableBatches(draw, np.random.default_rng(DATA_SEED))
    callback = CheckpointCallback(
        directory,
        every=half,
        total_steps=total,
        data_position=first_stream.position,
        arguments={"steps": total},
    )
    first.fit(
        first_stream.batches(),
        epochs=1,
        steps_per_epoch=half,
        callbacks=[callback],
        shuffle=False,
        verbose=0,
    )
    checkpoint = latest_checkpoint(directory)
    assert checkpoint.step == half and checkpoint.arguments == {"steps": total}
    assert sorted(os.listdir(checkpoint.path)) == ["checkpoint.json", "training_state.weights.h5"]

    # A new model object and a new stream with another seed, restored from the checkpoint.
    resumed = build_model(total, seed=99)
    step, position = restore(resumed, checkpoint)
    assert step == half
    assert int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)) == half
    assert_same(as_numpy(resumed.weights), as_numpy(first.weights), rtol=0, atol=0)
    assert_same(
        as_numpy(resumed.optimizer.variables), as_numpy(first.optimizer.variables), rtol=0, atol=0
    )
    # The schedule continues where it stopped, as the uninterrupted run's did.
    assert learning_rate(resumed) == pytest.approx(numpy_schedule(half, total), rel=1e-6)
    assert learning_rate(resumed) == pytest.approx(learning_rate(first), rel=1e-7)
    resumed_stream = ResumableBatches(draw, np.random.default_rng(12345), position)
    resumed.fit(
        resumed_stream.batches(), **resume_fit_arguments(total, step), shuffle=False, verbose=0
    )

    assert int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)) == total
    assert learning_rate(resumed) == pytest.approx(learning_rate(straight), rel=1e-7)
    assert_same(as_numpy(resumed.weights), as_numpy(straight.weights))
    assert_same(as_numpy(resumed.optimizer.variables), as_numpy(straight.optimizer.variables))
    # ...and the half run alone is not the whole run (the comparison can fail).
    assert not np.allclose(as_numpy(first.weights)[0], as_numpy(straight.weights)[0])


def test_resumable_batches_resume_despite_batches_drawn_ahead():
    stream = ResumableBatches(draw, np.random.default_rng(0))
    batches = stream.batches()
    drawn = [next(batches)[0] for _ in range(6)]
    # `fit` has pulled 6 batches but trained 4: the position is the one before batch 4.
    position = json.loads(json.dumps(stream.position(4)))
    again = ResumableBatches(draw, np.random.default_rng(1), position).batches()
    for expected in drawn[4:]:
        actual = next(again)[0]
        np.testing.assert_array_equal(actual["images"], expected["images"])
        np.testing.assert_array_equal(actual["token_ids"], expected["token_ids"])
    with pytest.raises(ValueError, match="before batch 2 is not known"):
        stream.position(2)


def test_keeps_the_last_checkpoints_and_ignores_partial_ones(tmp_path):
    model = build_model(10)
    model.optimizer.build(model.trainable_variables)
    for step in (2, 4, 6, 8):
        save_checkpoint(model, tmp_path, step, data_position={"step": step}, keep=3)
    assert [checkpoint.step for checkpoint in list_checkpoints(tmp_path)] == [4, 6, 8]
    # A save killed half-way leaves a hidden partial folder; a folder without its
    # checkpoint.json is not complete either.
    os.makedirs(tmp_path / ".step-00000010.partial-abc")
    (tmp_path / ".step-00000010.partial-abc" / "training_state.weights.h5").write_bytes(b"")
    os.makedirs(tmp_path / "step-00000012")
    (tmp_path / "step-00000012" / "training_state.weights.h5").write_bytes(b"")
    latest = latest_checkpoint(tmp_path)
    assert latest.step == 8 and latest.data_position == {"step": 8}
    with open(os.path.join(latest.path, "checkpoint.json")) as file:
        info = json.load(file)
    assert info["step"] == 8 and info["backend"] == keras.backend.backend()
    # The next save clears the partial folder; saving a step again replaces it.
    save_checkpoint(model, tmp_path, 8, data_position={"again": True}, keep=3)
    assert not (tmp_path / ".step-00000010.partial-abc").exists()
    assert latest_checkpoint(tmp_path).data_position == {"again": True}
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_checkpoint_saves_the_preprocessor(tmp_path):
    captions = ["a red circle", "a blue square", "a green star", "two red squares"]
    tokenizer = SigLIPTokenizer(train_sentencepiece(captions * 4, 20), sequence_length=6)
    preprocessor = SigLIPPreprocessor(tokenizer, image_size=16)
    model = build_model(4)
    model.optimizer.build(model.trainable_variables)
    checkpoint = save_checkpoint(model, tmp_path, 0, preprocessor=preprocessor)
    loaded = checkpoint.preprocessor()
    assert loaded.image_size == 16
    np.testing.assert_array_equal(loaded.tokenizer(captions), tokenizer(captions))


def test_refuses_records_that_are_not_json_and_leaves_nothing(tmp_path):
    model = build_model(4)
    with pytest.raises(ValueError, match="JSON-serialisable"):
        save_checkpoint(model, tmp_path, 1, data_position={"state": np.zeros(2)})
    assert latest_checkpoint(tmp_path) is None


def test_restore_refuses_a_model_that_does_not_fit(tmp_path):
    model = build_model(4)
    model.optimizer.build(model.trainable_variables)
    checkpoint = save_checkpoint(model, tmp_path, 0)
    uncompiled = build_model(4)
    uncompiled.optimizer = None
    with pytest.raises(ValueError, match="must be compiled"):
        restore(uncompiled, checkpoint)
    # Locking a tower changes the optimizer's variables: restoring would restart Adam.
    locked = build_model(4)
    locked.locked_towers = ("image",)
    locked.compile(learning_rate=1e-2)
    with pytest.raises(ValueError, match="does not fit this model"):
        restore(locked, checkpoint)


def test_resume_fit_arguments():
    assert resume_fit_arguments(10) == {"epochs": 1, "steps_per_epoch": 10}
    assert resume_fit_arguments(10, 7) == {"epochs": 1, "steps_per_epoch": 3}
    with pytest.raises(ValueError, match="already took its 10 steps"):
        resume_fit_arguments(10, 10)
    with pytest.raises(ValueError, match="resumed_step"):
        resume_fit_arguments(10, -1)


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="one backend is enough for the kill")
def test_a_killed_run_resumes_to_the_uninterrupted_weights(tmp_path):
    total, every = 10, 2
    output = tmp_path / "killed"
    pythonpath = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": pythonpath}
    script = os.path.join(HERE, "training_run.py")
    child = subprocess.Popen(
        [sys.executable, script, str(output), str(total), str(every), "0.15"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    directory = checkpoint_directory(output)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and child.poll() is None:
            latest = latest_checkpoint(directory)
            if latest is not None and latest.step >= 2 * every:
                break
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    killed_at = latest_checkpoint(directory).step
    assert child.returncode == -signal.SIGKILL
    assert 2 * every <= killed_at < total
    subprocess.run(
        [sys.executable, script, str(output), str(total), str(every), "0"],
        env=environment,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    finished = latest_checkpoint(directory)
    assert finished.step == total
    resumed = build_model(total, seed=7)
    restore(resumed, finished)
    uninterrupted = run(tmp_path / "straight", total, every)
    assert_same(as_numpy(resumed.weights), as_numpy(uninterrupted.weights))
    assert_same(as_numpy(resumed.optimizer.variables), as_numpy(uninterrupted.optimizer.variables))
