"""Load Hugging Face transformers SigLIP checkpoints into `keras_siglip.SigLIP`.

A transformers directory holds `config.json` (`model_type` "siglip") and the
weights as safetensors, one `model.safetensors` or shards listed in
`model.safetensors.index.json`; `spiece.model` and `preprocessor_config.json`
describe its preprocessing. The SigLIP 2 checkpoints at fixed resolution are
published with `model_type` "siglip" too and load the same way (their Gemma
tokenizer does not: see `tokenizer_from_transformers`).

Only JSON, safetensors and SentencePiece files are read: nothing is unpickled, so
`pytorch_model.bin` checkpoints are refused. Neither torch nor transformers is
needed. `hf://owner/name` handles are downloaded with `huggingface_hub`.

The layouts differ from Keras' in three places: torch `Linear` weights are
`(out, in)` (Keras kernels `(in, out)`), the patch convolution is `(out, in, h, w)`
(Keras `(h, w, in, out)`), and the pooling head's attention packs the query, key
and value projections into one `in_proj_weight` of `(3 * width, width)`.
"""

import json
import os
import warnings

import numpy as np

from keras_siglip.convert import hub, weights
from keras_siglip.convert.safetensors_weights import SafetensorsCheckpoint, weight_files
from keras_siglip.convert.transformers_config import (
    CONFIG_FILE,
    TEXT_DEFAULTS,
    VISION_DEFAULTS,
    config_from_transformers,
    config_section,
    is_transformers_directory,
    square_size,
)
from keras_siglip.files import file_inside
from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer

__all__ = [
    "REMOTE_PATTERNS",
    "config_from_transformers",
    "is_remote_handle",
    "is_transformers_directory",
    "load_transformers_checkpoint",
    "preprocessor_from_transformers",
    "resolve_remote",
    "tokenizer_from_transformers",
]

# The files of a transformers model directory besides the weights
# (`safetensors_weights`) and `config.json` (`transformers_config`).
VOCABULARY_FILE = "spiece.model"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
IMAGE_PROCESSOR_FILE = "preprocessor_config.json"
REMOTE_PREFIX = hub.HF_PREFIX
# What a conversion reads; everything else in a model repository (pickles, ONNX,
# TensorFlow and Flax weights) is not downloaded.
REMOTE_PATTERNS = ("*.json", "*.safetensors", VOCABULARY_FILE)
# Non-persistent index buffers that older transformers versions saved with the
# weights; they hold `arange(length)` and no learned value.
_BUFFER_SUFFIX = ".position_ids"


# --- Remote checkpoints ------------------------------------------------------------


def is_remote_handle(handle):
    """Whether `handle` is an `hf://owner/name` string.

    Example:

    >>> is_remote_handle("hf://google/siglip-base-patch16-224"), is_remote_handle("siglip")
    (True, False)
    """
    return isinstance(handle, str) and handle.startswith(REMOTE_PREFIX)


def resolve_remote(handle):
    """Download a Hugging Face Hub model repository and return its local directory.

    Only the files a conversion reads are fetched (`REMOTE_PATTERNS`: JSON,
    safetensors and `spiece.model`), into the Hugging Face cache, so a second
    call downloads nothing.

    Args:
        handle: `"hf://owner/name"`, optionally `"hf://owner/name@revision"` to pin
            a branch, tag or commit.

    Returns:
        The local directory (str).

    Raises:
        ValueError: `handle` is not of that form.
        ImportError: `huggingface_hub` is not installed.
        OSError: the download failed.
    """
    if not is_remote_handle(handle):
        raise ValueError(
            f"`handle` must look like '{REMOTE_PREFIX}owner/name' (a Hugging Face Hub "
            f"model), got {handle!r}."
        )
    return hub.download(handle, allow_patterns=REMOTE_PATTERNS)


# --- Model -------------------------------------------------------------------------


def load_transformers_checkpoint(path, load_weights=True, dtype=None):
    """Build a `SigLIP` from a transformers checkpoint and load its weights.

    Every array of the checkpoint is used and every variable of the model is
    filled; the shapes are all checked before anything is assigned.

    Args:
        path: a transformers model directory (`config.json` and
            `model.safetensors` or `model.safetensors.index.json` with its shards),
            or an `hf://owner/name` handle, downloaded first (`resolve_remote`).
        load_weights: `False` builds the architecture from `config.json` only.
        dtype: dtype policy of both towers, e.g. `"bfloat16"` or
            `"mixed_bfloat16"`; `None` is Keras' global policy (float32 by
            default). The weights are cast to it, whatever the checkpoint's dtype
            (float32, float16 or bfloat16).

    Returns:
        A `keras_siglip.SigLIP`.

    Raises:
        FileNotFoundError: no such directory, or no `config.json` or safetensors
            weights in it.
        ValueError: not a SigLIP model, pickled weights only
            (`pytorch_model.bin`), or weights that do not fit `config.json`
            (the message lists missing and unexpected keys, or names the
            variable, the checkpoint key and both shapes).

    Usage (not run here: it needs a checkpoint):

        model = load_transformers_checkpoint("hf://google/siglip-base-patch16-224")
        model.encode_images(images)  # (batch, 224, 224, 3) in [-1, 1]
    """
    path = _local_directory(path)
    hf_config = _read_json(path, CONFIG_FILE)
    try:
        config = config_from_transformers(hf_config)
    except ValueError as error:
        raise ValueError(f"Cannot load {path}: {error}") from None
    model = weights.build_siglip(config, dtype)
    if not load_weights:
        return model
    with SafetensorsCheckpoint(weight_files(path)) as tensors:
        shapes = {
            key: shape for key, shape in tensors.shapes.items() if not key.endswith(_BUFFER_SUFFIX)
        }
        weights.assign_weights(
            model,
            checkpoint_targets(model),
            shapes,
            tensors.read,
            source=f"The checkpoint in {path}",
            hint=f"Check that {CONFIG_FILE} belongs to these weights.",
        )
    return model


def checkpoint_targets(model):
    """Where each array of a transformers `SiglipModel` checkpoint goes in `model`.

    Args:
        model: a `keras_siglip.SigLIP` built with `ImageEncoder` and `TextEncoder`.

    Returns:
        A list of `keras_siglip.convert.weights.Target`.
    """
    image, text = model.image_encoder, model.text_encoder
    targets = [
        weights.scalar("logit_scale", model, model.log_temperature),
        weights.scalar("logit_bias", model, model.bias),
    ]

    projection = image.patch_embedding.projection
    height, width, channels, features = projection.kernel.shape
    targets.append(
        weights.Target(
            "vision_model.embeddings.patch_embedding.weight",
            ((weights.variable_name(image, projection.kernel), projection.kernel),),
            (features, channels, height, width),
            lambda array: [np.transpose(array, (2, 3, 1, 0))],
        )
    )
    targets.append(
        weights.direct("vision_model.embeddings.patch_embedding.bias", image, projection.bias)
    )
    targets.append(
        weights.direct(
            "vision_model.embeddings.position_embedding.weight",
            image,
            image.position_embedding.embeddings,
        )
    )
    for index, block in enumerate(image.encoder_blocks):
        targets += _block_targets(f"vision_model.encoder.layers.{index}", image, block)
    targets += _layer_norm_targets("vision_model.post_layernorm", image, image.final_norm)
    pooling = image.pooling
    targets.append(weights.direct("vision_model.head.probe", image, pooling.probe))
    targets += _packed_attention_targets("vision_model.head.attention", image, pooling.attention)
    targets += _linear_targets(
        "vision_model.head.attention.out_proj", image, pooling.attention.output_projection
    )
    targets += _layer_norm_targets("vision_model.head.layernorm", image, pooling.mlp_norm)
    targets += _linear_targets("vision_model.head.mlp.fc1", image, pooling.mlp.expand)
    targets += _linear_targets("vision_model.head.mlp.fc2", image, pooling.mlp.contract)

    targets.append(
        weights.direct(
            "text_model.embeddings.token_embedding.weight", text, text.token_embedding.embeddings
        )
    )
    targets.append(
        weights.direct(
            "text_model.embeddings.position_embedding.weight",
            text,
            text.position_embedding.embeddings,
        )
    )
    for index, block in enumerate(text.encoder_blocks):
        targets += _block_targets(f"text_model.encoder.layers.{index}", text, block)
    targets += _layer_norm_targets("text_model.final_layer_norm", text, text.final_norm)
    targets += _linear_targets("text_model.head", text, text.head)
    return targets


def _linear_targets(prefix, owner, dense):
    return [
        weights.transposed(f"{prefix}.weight", owner, dense.kernel),
        weights.direct(f"{prefix}.bias", owner, dense.bias),
    ]


def _layer_norm_targets(prefix, owner, norm):
    return [
        weights.direct(f"{prefix}.weight", owner, norm.gamma),
        weights.direct(f"{prefix}.bias", owner, norm.beta),
    ]


def _block_targets(prefix, owner, block):
    attention = block.attention
    return (
        _layer_norm_targets(f"{prefix}.layer_norm1", owner, block.attention_norm)
        + _linear_targets(f"{prefix}.self_attn.q_proj", owner, attention.query_projection)
        + _linear_targets(f"{prefix}.self_attn.k_proj", owner, attention.key_projection)
        + _linear_targets(f"{prefix}.self_attn.v_proj", owner, attention.value_projection)
        + _linear_targets(f"{prefix}.self_attn.out_proj", owner, attention.output_projection)
        + _layer_norm_targets(f"{prefix}.layer_norm2", owner, block.mlp_norm)
        + _linear_targets(f"{prefix}.mlp.fc1", owner, block.mlp.expand)
        + _linear_targets(f"{prefix}.mlp.fc2", owner, block.mlp.contract)
    )


def _packed_attention_targets(prefix, owner, attention):
    """torch `MultiheadAttention`'s `in_proj_weight` `(3 * width, width)` and
    `in_proj_bias`: the query, key and value projections stacked in that order."""
    projections = (attention.query_projection, attention.key_projection, attention.value_projection)
    width_in, width_out = projections[0].kernel.shape
    return [
        weights.Target(
            f"{prefix}.in_proj_weight",
            tuple((weights.variable_name(owner, p.kernel), p.kernel) for p in projections),
            (3 * width_out, width_in),
            lambda array: [part.T for part in np.split(array, 3, axis=0)],
        ),
        weights.Target(
            f"{prefix}.in_proj_bias",
            tuple((weights.variable_name(owner, p.bias), p.bias) for p in projections),
            (3 * width_out,),
            lambda array: np.split(array, 3),
        ),
    ]


# --- Reading the directory -------------------------------------------------------


def _local_directory(path):
    if is_remote_handle(path):
        return resolve_remote(path)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            "`path` must be a transformers model directory or an "
            f"'{REMOTE_PREFIX}owner/name' handle, got {type(path).__name__}."
        )
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"The transformers model directory {path!r} does not exist (or is not a directory)."
        )
    return path


def _read_json(path, name, required=True):
    file = file_inside(path, name)
    if not os.path.isfile(file):
        if not required:
            return None
        raise FileNotFoundError(f"The transformers model directory {path} has no {name}.")
    try:
        with open(file, encoding="utf-8") as handle:
            content = json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{file} is not valid JSON: {error}") from None
    if not isinstance(content, dict):
        raise ValueError(f"{file} must hold a JSON object, got {type(content).__name__}.")
    return content


# --- Preprocessing -----------------------------------------------------------------


def tokenizer_from_transformers(path, sequence_length=None):
    """A `SigLIPTokenizer` with the vocabulary and special ids of a transformers
    `SiglipTokenizer`.

    Reads `spiece.model` and, when present, `tokenizer_config.json` and
    `special_tokens_map.json` for the EOS and pad tokens (SigLIP's English and
    multilingual vocabularies: both `"</s>"`, id 1, the "sticky EOS").

    On ASCII text the ids equal transformers' `tokenizer(texts,
    padding="max_length", truncation=True, max_length=sequence_length)`: both
    lower-case, remove ASCII punctuation, collapse whitespace, append EOS (kept
    last on truncation) and pad. transformers lower-cases with Python's
    `str.lower` (Unicode 14 in Python 3.11) and collapses Python's `\\s`
    characters; keras_siglip follows TensorFlow's Unicode 13 tables (see
    `keras_siglip.preprocessing.canonicalize`), so texts with characters new in
    Unicode 14 can differ.

    Args:
        path: a transformers model directory, or an `hf://owner/name` handle.
        sequence_length: the fixed text length; by default the model's
            (`text_config.max_position_embeddings` of `config.json`, 64 when
            the config leaves it out).

    Returns:
        A `keras_siglip.SigLIPTokenizer`.

    Raises:
        FileNotFoundError: no `spiece.model` (SigLIP 2's Gemma tokenizer is not
            converted), or no `config.json` to take the length from.
        ValueError: special tokens that keras_siglip's tokenizer cannot reproduce.
    """
    path = _local_directory(path)
    vocabulary = file_inside(path, VOCABULARY_FILE)
    if not os.path.isfile(vocabulary):
        raise FileNotFoundError(
            f"The transformers model directory {path} has no {VOCABULARY_FILE}, the "
            "SentencePiece vocabulary of SigLIP's tokenizer. (SigLIP 2 checkpoints use "
            "the Gemma tokenizer, which keras_siglip does not convert.)"
        )
    if sequence_length is None:
        sequence_length = _model_sequence_length(path)
    settings = {
        **(_read_json(path, SPECIAL_TOKENS_FILE, required=False) or {}),
        **(_read_json(path, TOKENIZER_CONFIG_FILE, required=False) or {}),
    }
    if settings.get("do_lower_case", True) is not True:
        raise ValueError(
            f"{os.path.join(path, TOKENIZER_CONFIG_FILE)} sets `do_lower_case` to "
            f"{settings['do_lower_case']!r}; keras_siglip's tokenizer canonicalises "
            "texts as SigLIP does (lower-case, no punctuation) and cannot keep case."
        )
    import sentencepiece

    with open(vocabulary, "rb") as file:
        proto = file.read()
    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(proto)
    except (RuntimeError, OSError) as error:
        raise ValueError(f"{vocabulary} is not a SentencePiece model ({error}).") from None
    eos_id = _special_token_id(processor, settings, "eos_token", path)
    if eos_id != processor.eos_id():
        raise ValueError(
            f"The tokenizer in {path} ends texts with the token {processor.id_to_piece(eos_id)!r} "
            f"(id {eos_id}), but the EOS of its {VOCABULARY_FILE} is id "
            f"{processor.eos_id()}, the one keras_siglip appends."
        )
    pad_id = _special_token_id(processor, settings, "pad_token", path)
    return SigLIPTokenizer(proto, sequence_length=sequence_length, pad_id=pad_id)


def preprocessor_from_transformers(path, sequence_length=None):
    """A `SigLIPPreprocessor` for a transformers SigLIP checkpoint.

    The image size comes from `preprocessor_config.json` (or `config.json`), which
    must scale pixels to [-1, 1] (mean and standard deviation 0.5 after a 1/255
    rescale), as keras_siglip's image preprocessing does. keras_siglip always
    resizes bicubically with antialiasing; a checkpoint whose processor resamples
    otherwise (SigLIP 2 uses bilinear) gets a warning.

    Args:
        path: a transformers model directory, or an `hf://owner/name` handle.
        sequence_length: the fixed text length; by default the model's.

    Returns:
        A `keras_siglip.SigLIPPreprocessor`.

    Raises:
        ValueError: a normalisation other than [-1, 1], non-square images, or an
            image size that disagrees with `config.json`.
    """
    path = _local_directory(path)
    tokenizer = tokenizer_from_transformers(path, sequence_length)
    model_size = None
    hf_config = _read_json(path, CONFIG_FILE, required=False)
    if hf_config is not None:
        model_size = square_size(
            "vision_config.image_size",
            config_section(hf_config, "vision_config").get(
                "image_size", VISION_DEFAULTS["image_size"]
            ),
        )
    processor = _read_json(path, IMAGE_PROCESSOR_FILE, required=False)
    if processor is None:
        if model_size is None:
            raise FileNotFoundError(
                f"The transformers model directory {path} has neither "
                f"{IMAGE_PROCESSOR_FILE} nor {CONFIG_FILE} to take the image size from."
            )
        return SigLIPPreprocessor(tokenizer, image_size=model_size)
    file = file_inside(path, IMAGE_PROCESSOR_FILE)
    _check_normalisation(processor, file)
    image_size = _processor_image_size(processor, file)
    if model_size is not None and image_size != model_size:
        raise ValueError(
            f"{file} resizes images to {image_size} pixels but {CONFIG_FILE} gives the "
            f"image tower {model_size}."
        )
    resample = processor.get("resample", _BICUBIC)
    if resample != _BICUBIC:
        warnings.warn(
            f"{file} resamples with PIL filter {resample!r}, not bicubic ({_BICUBIC}); "
            "keras_siglip's preprocessing resizes bicubically with antialiasing, so "
            "its images differ slightly from the ones this checkpoint was evaluated with.",
            stacklevel=2,
        )
    return SigLIPPreprocessor(tokenizer, image_size=image_size)


# PIL's number for bicubic resampling, the one SigLIP's image processor uses.
_BICUBIC = 3


def _model_sequence_length(path):
    hf_config = _read_json(path, CONFIG_FILE, required=False)
    if hf_config is None:
        raise FileNotFoundError(
            f"The transformers model directory {path} has no {CONFIG_FILE} to take the "
            "text length from; pass `sequence_length`."
        )
    text = config_section(hf_config, "text_config")
    return text.get("max_position_embeddings", TEXT_DEFAULTS["max_position_embeddings"])


def _special_token_id(processor, settings, name, path):
    token = settings.get(name, "</s>")
    if isinstance(token, dict):  # a serialised AddedToken
        token = token.get("content")
    if not isinstance(token, str):
        raise ValueError(f"The tokenizer files in {path} give `{name}` as {token!r}, not a string.")
    token_id = processor.piece_to_id(token)
    if processor.id_to_piece(token_id) != token:
        raise ValueError(
            f"The tokenizer files in {path} name {token!r} as `{name}`, but "
            f"{VOCABULARY_FILE} has no such piece."
        )
    return token_id


def _check_normalisation(processor, file):
    rescale = processor.get("rescale_factor", 1 / 255) if processor.get("do_rescale", True) else 1.0
    normalize = processor.get("do_normalize", True)
    mean = processor.get("image_mean", [0.5] * 3) if normalize else [0.0] * 3
    std = processor.get("image_std", [0.5] * 3) if normalize else [1.0] * 3
    mean = np.broadcast_to(np.asarray(mean, dtype=float), (3,))
    std = np.broadcast_to(np.asarray(std, dtype=float), (3,))
    # Pixel 0 and 255 must land on -1 and 1.
    low = (0.0 * rescale - mean) / std
    high = (255.0 * rescale - mean) / std
    if not (np.allclose(low, -1.0, atol=1e-4) and np.allclose(high, 1.0, atol=1e-4)):
        raise ValueError(
            f"{file} maps pixels 0..255 to [{low.min():g}, {high.max():g}] (rescale "
            f"{rescale}, mean {mean.tolist()}, std {std.tolist()}); keras_siglip's image "
            "preprocessing maps them to [-1, 1], SigLIP's range."
        )


def _processor_image_size(processor, file):
    size = processor.get("size")
    if isinstance(size, dict) and "height" in size and "width" in size:
        height, width = size["height"], size["width"]
    elif isinstance(size, dict) and "shortest_edge" in size:
        raise ValueError(
            f"{file} resizes the shortest edge to {size['shortest_edge']} (and crops); "
            "SigLIP squashes images to a square, which keras_siglip's preprocessing does."
        )
    elif isinstance(size, int):
        height = width = size
    else:
        raise ValueError(f"{file} has no image size keras_siglip understands: `size` is {size!r}.")
    if height != width:
        raise ValueError(
            f"{file} resizes images to {height}x{width}; keras_siglip's models take square images."
        )
    return height
