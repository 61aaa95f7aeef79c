"""Preprocessing: SigLIP's text rules and SentencePiece, images squashed to [-1, 1].

The preprocessing runs on TensorFlow ops whatever the Keras backend, so that one
implementation serves eager calls and `tf.data` pipelines.
"""

import keras
import tensorflow as tf

if keras.backend.backend() != "tensorflow":
    # TensorFlow only runs the (CPU) input pipeline here. Left with the GPUs, its
    # first op would reserve nearly all their memory before JAX or torch can.
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        pass  # TensorFlow is already running: the user's device set-up stands.

from keras_siglip.preprocessing.image import (  # noqa: E402
    load_images,
    preprocess_images,
    read_image,
)
from keras_siglip.preprocessing.preprocessor import SigLIPPreprocessor  # noqa: E402
from keras_siglip.preprocessing.resize import resize_bicubic_antialiased  # noqa: E402
from keras_siglip.preprocessing.tokenizer import (  # noqa: E402
    SigLIPTokenizer,
    canonicalize,
    train_sentencepiece,
)

__all__ = [
    "SigLIPPreprocessor",
    "SigLIPTokenizer",
    "canonicalize",
    "load_images",
    "preprocess_images",
    "resize_bicubic_antialiased",
    "read_image",
    "train_sentencepiece",
]
