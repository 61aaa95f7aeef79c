"""`SigLIPPreprocessor`: images and texts to the inputs of a `SigLIP` model."""

import json
import os

import tensorflow as tf

from keras_siglip import preset_hooks
from keras_siglip.files import file_inside
from keras_siglip.preprocessing.image import _check_input_range, preprocess_images
from keras_siglip.preprocessing.tokenizer import VOCABULARY_FILENAME, SigLIPTokenizer
from keras_siglip.validation import check_positive_int

PREPROCESSOR_CONFIG_FILE = "preprocessor.json"
TOKENIZER_CONFIG_FILE = "tokenizer.json"
TOKENIZER_ASSETS_DIR = os.path.join("assets", "tokenizer")


class SigLIPPreprocessor:
    """Maps `{"images": ..., "texts": ...}` to `{"images": ..., "token_ids": ...}`.

    Images (file paths, PIL images, uint8 arrays in `[0, 255]` or float arrays
    in the model's `[-1, 1]`, of any size, one or a list) go through
    `preprocess_images` (squash resize to `image_size`, `[-1, 1]`), texts through the
    tokenizer (fixed-length ids ending in EOS).
    Either key may be absent. Images and texts pair up one to one, so when both are
    given their counts must agree. Works eagerly (NumPy outputs) and inside
    `tf.data` (`dataset.map(preprocessor)`, batched or unbatched elements).

    Args:
        tokenizer: a `SigLIPTokenizer`.
        image_size: side of the square images the model takes.
        input_range: `(low, high)` values of black and white of the images; see
            `preprocess_images` (default: by dtype, `(-1, 1)` for floats).

    Example:

    >>> import numpy as np
    >>> from keras_siglip.preprocessing import SigLIPTokenizer, train_sentencepiece
    >>> tokenizer = SigLIPTokenizer(
    ...     train_sentencepiece(["a red circle", "a blue square"] * 5, 16),
    ...     sequence_length=12)
    >>> preprocessor = SigLIPPreprocessor(tokenizer, image_size=32)
    >>> inputs = preprocessor({"images": np.zeros((2, 40, 50, 3), "uint8"),
    ...                        "texts": ["A red circle.", "a BLUE square"]})
    >>> inputs["images"].shape, inputs["token_ids"].shape
    ((2, 32, 32, 3), (2, 12))
    >>> preprocessor({"texts": "a circle"})["token_ids"].shape
    (12,)
    """

    def __init__(self, tokenizer, image_size, input_range=None):
        if not isinstance(tokenizer, SigLIPTokenizer):
            raise TypeError(
                f"`tokenizer` must be a SigLIPTokenizer, got {type(tokenizer).__name__}."
            )
        check_positive_int("image_size", image_size)
        self.tokenizer = tokenizer
        self.image_size = image_size
        self.input_range = None if input_range is None else _check_input_range(input_range)

    @property
    def sequence_length(self):
        return self.tokenizer.sequence_length

    def __call__(self, inputs):
        if not isinstance(inputs, dict) or not inputs:
            raise ValueError(
                '`inputs` must be a dict with "images", "texts" or both, got '
                f"{type(inputs).__name__}{'' if inputs else ' (empty)'}."
            )
        unknown = sorted(set(inputs) - {"images", "texts"})
        if unknown:
            raise ValueError(
                f'`inputs` may only have the keys "images" and "texts"; got also {unknown}.'
            )
        outputs = {}
        if "images" in inputs:
            outputs["images"] = preprocess_images(
                inputs["images"], self.image_size, self.input_range
            )
        if "texts" in inputs:
            outputs["token_ids"] = self.tokenizer(inputs["texts"])
        if len(outputs) == 2:
            outputs["token_ids"] = _check_counts(outputs["images"], outputs["token_ids"])
        return outputs

    # --- Config and files -------------------------------------------------------

    def get_config(self):
        """The image settings; the tokenizer has its own config and vocabulary."""
        return {
            "image_size": self.image_size,
            "input_range": None if self.input_range is None else list(self.input_range),
        }

    def save_to_directory(self, path):
        """Writes `preprocessor.json`, `tokenizer.json` and the vocabulary.

        The layout follows keras-hub presets: `path/preprocessor.json`,
        `path/tokenizer.json` and `path/assets/tokenizer/vocabulary.spm`.
        """
        os.makedirs(path, exist_ok=True)
        _write_json(path, PREPROCESSOR_CONFIG_FILE, "SigLIPPreprocessor", self.get_config())
        _write_json(path, TOKENIZER_CONFIG_FILE, "SigLIPTokenizer", self.tokenizer.get_config())
        self.tokenizer.save_assets(os.path.join(path, TOKENIZER_ASSETS_DIR))

    @classmethod
    def from_preset(cls, preset):
        """The preprocessor that goes with a preset.

        Args:
            preset: anything `SigLIP.from_preset` takes that carries a tokenizer: a
                preset directory (`SigLIP.save_to_preset`, `keras-siglip train`), a
                transformers SigLIP directory or a keras-hub SigLIP preset with their
                SentencePiece model, an `hf://` or `kaggle://` handle, or a builtin
                preset with official weights (downloaded with them). Builtin
                architectures without weights and big_vision `.npz` files carry no
                vocabulary and are refused with an explanation.

        The loaders live in `keras_siglip.presets`, above the preprocessing; this
        method reaches them through `keras_siglip.preset_hooks`, where that
        package registers them on import.
        """
        return preset_hooks.load_preprocessor(cls, preset)

    @classmethod
    def from_directory(cls, path):
        """The preprocessor that `save_to_directory(path)` wrote.

        Only JSON and the SentencePiece model are read: nothing is unpickled or
        imported from the files.

        Raises:
            FileNotFoundError: a file is missing (the error names it).
            ValueError: a file is corrupt or its config is invalid (named too).
        """
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"The preprocessor directory {path!r} does not exist.")
        preprocessor_config = _read_json(path, PREPROCESSOR_CONFIG_FILE, "SigLIPPreprocessor")
        tokenizer_config = _read_json(path, TOKENIZER_CONFIG_FILE, "SigLIPTokenizer")
        # Loading with the default config first makes vocabulary errors name the
        # vocabulary file and config errors the JSON file.
        file_inside(path, os.path.join(TOKENIZER_ASSETS_DIR, VOCABULARY_FILENAME))
        vocabulary = SigLIPTokenizer.from_assets(os.path.join(path, TOKENIZER_ASSETS_DIR))
        tokenizer = _construct(
            SigLIPTokenizer, path, TOKENIZER_CONFIG_FILE, vocabulary.proto, **tokenizer_config
        )
        return _construct(cls, path, PREPROCESSOR_CONFIG_FILE, tokenizer, **preprocessor_config)


def _check_counts(images, token_ids):
    """`token_ids`, after checking that images and texts pair up one to one."""
    image_batch = images.shape.rank == 4 if isinstance(images, tf.Tensor) else images.ndim == 4
    text_batch = (
        token_ids.shape.rank == 2 if isinstance(token_ids, tf.Tensor) else token_ids.ndim == 2
    )
    if image_batch != text_batch:
        raise ValueError(
            "`images` and `texts` pair up one to one, but `images` is "
            f"{'a batch' if image_batch else 'one image'} and `texts` is "
            f"{'a batch' if text_batch else 'one text'}."
        )
    if not image_batch:
        return token_ids
    num_images, num_texts = images.shape[0], token_ids.shape[0]
    if num_images is not None and num_texts is not None:
        if num_images != num_texts:
            raise ValueError(
                f"`images` has {num_images} images but `texts` has {num_texts} texts; "
                "they pair up one to one."
            )
        return token_ids
    check = tf.debugging.assert_equal(
        tf.shape(images)[0],
        tf.shape(token_ids)[0],
        message="`images` and `texts` have different batch sizes; they pair up one to one.",
    )
    with tf.control_dependencies([check]):
        return tf.identity(token_ids)


def _write_json(directory, filename, class_name, config):
    with open(os.path.join(directory, filename), "w", encoding="utf-8") as file:
        json.dump({"class_name": class_name, "config": config}, file, indent=2)
        file.write("\n")


def _read_json(directory, filename, class_name):
    """The `config` of `directory/filename`, checked to be `class_name`'s."""
    path = file_inside(directory, filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"The preprocessor file {path!r} does not exist.")
    try:
        with open(path, encoding="utf-8") as file:
            content = json.load(file)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"The preprocessor file {path!r} is not valid JSON: {error}") from None
    if (
        not isinstance(content, dict)
        or content.get("class_name") != class_name
        or not isinstance(content.get("config"), dict)
    ):
        raise ValueError(
            f"The preprocessor file {path!r} must hold "
            f'{{"class_name": "{class_name}", "config": {{...}}}}; got {content!r:.200}.'
        )
    return content["config"]


def _construct(cls, directory, filename, *args, **config):
    try:
        return cls(*args, **config)
    except (TypeError, ValueError) as error:
        path = os.path.join(directory, filename)
        raise ValueError(f"The config in {path!r} is invalid: {error}") from None
