"""Helpers several test files share: the tiny model most tests train, and random inputs
for it. Import them (`from helpers import pico, random_batch`): pytest puts this folder
on `sys.path`."""

import os
import subprocess
import sys
import textwrap

from keras_siglip import SigLIP

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# `keras-siglip train` flags for a tiny model trained from scratch in CLI tests.
TINY_MODEL = [
    "--variant", "Pico/8", "--image-size", "16", "--vocabulary-size", "300",
    "--sequence-length", "12",
]  # fmt: skip
# The tiny model's sizes: Pico/8 on 16-pixel images, texts of 6 ids out of 40.
IMAGE_SIZE, LENGTH, VOCABULARY = 16, 6, 40


def pico(image_size=IMAGE_SIZE, sequence_length=LENGTH, vocabulary_size=VOCABULARY, **kwargs):
    """A freshly initialised Pico/8 `SigLIP`; `kwargs` go to `SigLIP.from_variant`."""
    return SigLIP.from_variant(
        "Pico/8",
        image_size=image_size,
        sequence_length=sequence_length,
        vocabulary_size=vocabulary_size,
        **kwargs,
    )


def random_batch(
    rng, size=8, image_size=IMAGE_SIZE, sequence_length=LENGTH, vocabulary_size=VOCABULARY
):
    """`size` random model inputs: images in [-1, 1] and token ids below `vocabulary_size`."""
    return {
        "images": rng.uniform(-1, 1, size=(size, image_size, image_size, 3)).astype("float32"),
        "token_ids": rng.integers(0, vocabulary_size, size=(size, sequence_length)).astype("int32"),
    }


def run_python(code, timeout=120):
    """Run `code` (dedented) in a fresh interpreter from the repository root, its own
    memory accounting, and a hang a timeout instead of a stuck test run, with only the
    environment it needs: settings that earlier tests leave in this process's
    environment must not change what it does or measures."""
    kept = (
        "PATH",
        "HOME",
        "KERAS_BACKEND",
        "PYTHONPATH",
        "LANG",
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
    )
    environment = {name: os.environ[name] for name in kept if name in os.environ}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
