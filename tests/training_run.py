"""A tiny resumable training run for tests/test_training_checkpoints.py.

Run as a script (`python training_run.py OUTPUT_DIR TOTAL_STEPS EVERY DELAY`) it trains a
Pico SigLIP to TOTAL_STEPS, resuming from the latest checkpoint under OUTPUT_DIR when
there is one; each batch takes at least DELAY seconds to draw, so a test can kill it
between checkpoints.
"""

import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np

from keras_siglip import SigLIP
from keras_siglip.training.checkpoints import (
    CheckpointCallback,
    ResumableBatches,
    checkpoint_directory,
    latest_checkpoint,
    restore,
    resume_fit_arguments,
)

IMAGE_SIZE, LENGTH, VOCABULARY, BATCH = 16, 6, 40, 8
PEAK_LEARNING_RATE, WARMUP_STEPS = 1e-2, 2
DATA_SEED = 5


def build_model(total_steps, seed=0):
    """The same initial weights in every process (seeded), compiled with a schedule."""
    keras.utils.set_random_seed(seed)
    model = SigLIP.from_variant(
        "Pico/8", image_size=IMAGE_SIZE, sequence_length=LENGTH, vocabulary_size=VOCABULARY
    )
    model.compile(
        learning_rate=PEAK_LEARNING_RATE, warmup_steps=WARMUP_STEPS, decay_steps=total_steps
    )
    return model


def draw(rng, delay=0.0):
    if delay:
        time.sleep(delay)
    return {
        "images": rng.uniform(-1, 1, size=(BATCH, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32"),
        "token_ids": rng.integers(0, VOCABULARY, size=(BATCH, LENGTH)).astype("int32"),
    }


def run(output_dir, total_steps, every, delay=0.0):
    """Train to `total_steps`, resuming from the latest checkpoint; returns the model."""
    model = build_model(total_steps)
    directory = checkpoint_directory(output_dir)
    latest = latest_checkpoint(directory)
    step, position = restore(model, latest) if latest is not None else (0, None)
    stream = ResumableBatches(
        lambda rng: draw(rng, delay), np.random.default_rng(DATA_SEED), position
    )
    callback = CheckpointCallback(
        directory,
        every,
        total_steps=total_steps,
        initial_step=step,
        data_position=stream.position,
        arguments={"total_steps": total_steps, "every": every},
    )
    model.fit(
        stream.batches(),
        **resume_fit_arguments(total_steps, step),
        shuffle=False,
        callbacks=[callback],
        verbose=0,
    )
    return model


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
