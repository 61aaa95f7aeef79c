"""keras_siglip: SigLIP (sigmoid loss language-image pre-training) for Keras 3.

JAX is the default backend; a `KERAS_BACKEND` set before the first import of Keras
is respected ("jax", "tensorflow" or "torch").
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

from keras_siglip import (  # noqa: E402
    data,
    distribution,
    evaluation,
    layers,
    losses,
    optimizers,
    preprocessing,
    towers,
    training,
)
from keras_siglip.evaluation import ZeroShotClassifier  # noqa: E402
from keras_siglip.losses import SigmoidLoss, SoftmaxLoss, sigmoid_loss, softmax_loss  # noqa: E402
from keras_siglip.model import SigLIP  # noqa: E402
from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer  # noqa: E402
from keras_siglip.presets import list_presets  # noqa: E402
from keras_siglip.towers import ImageEncoder, TextEncoder  # noqa: E402
from keras_siglip.version import __version__  # noqa: E402

__all__ = [
    "ImageEncoder",
    "SigLIP",
    "SigLIPPreprocessor",
    "SigLIPTokenizer",
    "SigmoidLoss",
    "SoftmaxLoss",
    "TextEncoder",
    "ZeroShotClassifier",
    "data",
    "distribution",
    "evaluation",
    "layers",
    "list_presets",
    "losses",
    "optimizers",
    "preprocessing",
    "sigmoid_loss",
    "softmax_loss",
    "towers",
    "training",
]
