"""keras_siglip: SigLIP (sigmoid loss language-image pre-training) for Keras 3.

JAX is the default backend; a `KERAS_BACKEND` set before the first import of Keras
is respected ("jax", "tensorflow" or "torch"). Keras imported first without
`KERAS_BACKEND` keeps its own backend, and `import keras_siglip` warns about it.
"""

import os
import sys
import warnings

DEFAULT_BACKEND = "jax"
_backend_chosen = "KERAS_BACKEND" in os.environ
os.environ.setdefault("KERAS_BACKEND", DEFAULT_BACKEND)
if "keras" in sys.modules and not _backend_chosen:
    # Keras read its backend when it was first imported, before this default.
    _backend = sys.modules["keras"].backend.backend()
    if _backend != DEFAULT_BACKEND:
        warnings.warn(
            f"Keras was imported before keras_siglip and uses the {_backend!r} backend, not "
            f"keras_siglip's default {DEFAULT_BACKEND!r}. To choose, set KERAS_BACKEND "
            "('jax', 'tensorflow' or 'torch') before the first import of keras or "
            "keras_siglip, e.g. `KERAS_BACKEND=jax python ...`.",
            stacklevel=2,
        )

from keras_siglip import (  # noqa: E402
    data,
    distribution,
    evaluation,
    inference,
    layers,
    losses,
    optimizers,
    preprocessing,
    towers,
    training,
)
from keras_siglip.evaluation import ZeroShotClassifier  # noqa: E402
from keras_siglip.inference import Embedder  # noqa: E402
from keras_siglip.losses import SigmoidLoss, SoftmaxLoss, sigmoid_loss, softmax_loss  # noqa: E402
from keras_siglip.model import SigLIP  # noqa: E402
from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer  # noqa: E402
from keras_siglip.presets import list_presets  # noqa: E402
from keras_siglip.towers import ImageEncoder, TextEncoder  # noqa: E402
from keras_siglip.version import __version__  # noqa: E402, F401  (the package version)

__all__ = [
    "Embedder",
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
    "inference",
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
