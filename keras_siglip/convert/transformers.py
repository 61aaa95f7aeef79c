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

import contextlib
import json
import os
import warnings

import numpy as np

from keras_siglip.convert import weights
from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer

__all__ = [
    "config_from_transformers",
    "is_remote_handle",
    "is_transformers_directory",
    "load_transformers_checkpoint",
    "preprocessor_from_transformers",
    "resolve_remote",
    "tokenizer_from_transformers",
]

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
PICKLED_WEIGHTS_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
VOCABULARY_FILE = "spiece.model"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
IMAGE_PROCESSOR_FILE = "preprocessor_config.json"
REMOTE_PREFIX = "hf://"
# What a conversion reads; everything else in a model repository (pickles, ONNX,
# TensorFlow and Flax weights) is not downloaded.
REMOTE_PATTERNS = ("*.json", "*.safetensors", VOCABULARY_FILE)

# The defaults of transformers' SiglipTextConfig and SiglipVisionConfig (B/16 at
# 224 px): the official config.json files leave out the values that equal them.
TEXT_DEFAULTS = {
    "vocab_size": 32000,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 64,
    "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
    "projection_size": None,
}
VISION_DEFAULTS = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 16,
    "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
    "vision_use_head": True,
}
# transformers' names of the tanh approximation of GELU, which keras_siglip's MLP
# computes (the three differ only in rounding of sqrt(2 / pi)).
TANH_GELU_NAMES = ("gelu_pytorch_tanh", "gelu_new", "gelu_fast")
# Non-persistent index buffers that older transformers versions saved with the
# weights; they hold `arange(length)` and no learned value.
_BUFFER_SUFFIX = ".position_ids"


# --- Recognising and resolving checkpoints ----------------------------------------


def is_transformers_directory(path):
    """Whether `path` is a local transformers model directory.

    True for a directory whose `config.json` is a transformers config (a JSON
    object with `model_type`; Keras and keras-hub presets have `class_name`
    instead), whatever the model type: `load_transformers_checkpoint` then says
    why a model other than SigLIP (SigLIP 2 NaFlex, CLIP...) cannot be loaded,
    instead of a loader that dispatches on this function reporting an unknown
    preset.

    Args:
        path: a path (anything else gives False).

    Returns:
        bool.

    Example:

    >>> is_transformers_directory("/no/such/directory")
    False
    """
    if not isinstance(path, (str, os.PathLike)) or not os.path.isdir(path):
        return False
    try:
        with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as file:
            config = json.load(file)
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "model_type" in config


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
    """
    if not is_remote_handle(handle):
        raise ValueError(
            f"`handle` must look like '{REMOTE_PREFIX}owner/name' (a Hugging Face Hub "
            f"model), got {handle!r}."
        )
    repo_id, _, revision = handle[len(REMOTE_PREFIX):].partition("@")
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or (revision == "" and handle.endswith("@")):
        raise ValueError(
            f"`handle` must look like '{REMOTE_PREFIX}owner/name' or "
            f"'{REMOTE_PREFIX}owner/name@revision', got {handle!r}."
        )
    try:
        import huggingface_hub
    except ImportError:
        raise ImportError(
            f"Downloading {handle} needs the `huggingface_hub` package: "
            "`pip install huggingface_hub`, or pass a local directory."
        ) from None
    return huggingface_hub.snapshot_download(
        repo_id=repo_id, revision=revision or None, allow_patterns=list(REMOTE_PATTERNS)
    )


# --- Configuration -----------------------------------------------------------------


def config_from_transformers(hf_config):
    """The constructor arguments of our towers for a transformers SigLIP config.

    Sizes missing from the config take transformers' defaults (`TEXT_DEFAULTS`,
    `VISION_DEFAULTS`), as transformers does. The text tower's `projection_size`
    becomes its `embedding_dim` and must equal the image width.

    Args:
        hf_config: the parsed `config.json` of a transformers `SiglipModel` (a
            dict with `model_type` "siglip", `text_config` and `vision_config`).

    Returns:
        `{"image_encoder": {...}, "text_encoder": {...}}`, keyword arguments of
        `keras_siglip.ImageEncoder` and `keras_siglip.TextEncoder`.

    Raises:
        ValueError: not a SigLIP config, or one that keras_siglip's towers cannot
            express (another activation, no pooling head, non-square images, a
            text embedding size other than the image width); the message names
            the field.

    Example:

    >>> config = config_from_transformers({"model_type": "siglip", "text_config": {},
    ...     "vision_config": {"image_size": 256}})
    >>> config["image_encoder"]["image_size"], config["text_encoder"]["sequence_length"]
    (256, 64)
    """
    if not isinstance(hf_config, dict):
        raise ValueError(
            f"`hf_config` must be the parsed {CONFIG_FILE} (a dict), got "
            f"{type(hf_config).__name__}."
        )
    _check_model_type(hf_config.get("model_type"))
    text = {**TEXT_DEFAULTS, **_section(hf_config, "text_config")}
    vision = {**VISION_DEFAULTS, **_section(hf_config, "vision_config")}
    for section, values in (("text_config", text), ("vision_config", vision)):
        if values["hidden_act"] not in TANH_GELU_NAMES:
            raise ValueError(
                f"{CONFIG_FILE} `{section}.hidden_act` is {values['hidden_act']!r}; "
                f"keras_siglip's towers use the tanh approximation of GELU, one of "
                f"{list(TANH_GELU_NAMES)}."
            )
    if vision["num_channels"] != 3:
        raise ValueError(
            f"{CONFIG_FILE} `vision_config.num_channels` is {vision['num_channels']!r}; "
            "keras_siglip's image tower takes RGB images (3 channels)."
        )
    if not vision["vision_use_head"]:
        raise ValueError(
            f"{CONFIG_FILE} has `vision_config.vision_use_head` false: the image tower "
            "has no attention-pooling head (as in PaliGemma's vision tower), which "
            "keras_siglip's ImageEncoder always has."
        )
    image_size = _square("vision_config.image_size", vision["image_size"])
    patch_size = _square("vision_config.patch_size", vision["patch_size"])
    projection_size = text["projection_size"] or text["hidden_size"]
    if projection_size != vision["hidden_size"]:
        raise ValueError(
            f"{CONFIG_FILE} gives the text tower an output size "
            f"(`text_config.projection_size`, default its `hidden_size`) of "
            f"{projection_size} but the image tower a width of {vision['hidden_size']}; "
            "both must embed into the same space."
        )
    return {
        "image_encoder": {
            "image_size": image_size,
            "patch_size": patch_size,
            "hidden_dim": vision["hidden_size"],
            "num_layers": vision["num_hidden_layers"],
            "num_heads": vision["num_attention_heads"],
            "intermediate_dim": vision["intermediate_size"],
            "layer_norm_epsilon": float(vision["layer_norm_eps"]),
        },
        "text_encoder": {
            "vocabulary_size": text["vocab_size"],
            "sequence_length": text["max_position_embeddings"],
            "hidden_dim": text["hidden_size"],
            "num_layers": text["num_hidden_layers"],
            "num_heads": text["num_attention_heads"],
            "intermediate_dim": text["intermediate_size"],
            "embedding_dim": projection_size,
            "layer_norm_epsilon": float(text["layer_norm_eps"]),
        },
    }


def _check_model_type(model_type):
    if model_type == "siglip":
        return
    if model_type == "siglip2":
        raise ValueError(
            f"{CONFIG_FILE} describes a 'siglip2' model: SigLIP 2 NaFlex, whose image "
            "tower takes patches at their native aspect ratio, a different architecture "
            "that keras_siglip does not implement. The SigLIP 2 checkpoints at a fixed "
            "resolution (e.g. google/siglip2-base-patch16-224) have `model_type` "
            "'siglip' and load."
        )
    if model_type in ("siglip_vision_model", "siglip_text_model"):
        raise ValueError(
            f"{CONFIG_FILE} describes a {model_type!r}, one tower alone; "
            "keras_siglip loads whole SigLIP models (`model_type` 'siglip')."
        )
    raise ValueError(
        f"{CONFIG_FILE} describes a {model_type!r} model; keras_siglip loads "
        "transformers SigLIP models, whose `model_type` is 'siglip'."
    )


def _section(hf_config, name):
    section = hf_config.get(name)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ValueError(f"{CONFIG_FILE} `{name}` must be an object, got {section!r}.")
    return {key: value for key, value in section.items() if value is not None}


def _square(name, value):
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(
                f"{CONFIG_FILE} `{name}` is {list(value)}; keras_siglip takes square "
                "images and patches (one size, or two equal ones)."
            )
        value = value[0]
    return value


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
    with _SafetensorsCheckpoint(_weight_files(path)) as tensors:
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


# --- Reading safetensors -----------------------------------------------------------


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
            f"The transformers model directory {path!r} does not exist (or is not a "
            "directory)."
        )
    return path


def _read_json(path, name, required=True):
    file = os.path.join(path, name)
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


def _weight_files(path):
    """The safetensors files of directory `path`, after refusing pickled weights."""
    single = os.path.join(path, SAFETENSORS_FILE)
    if os.path.isfile(single):
        return [single]
    if os.path.isfile(os.path.join(path, SAFETENSORS_INDEX_FILE)):
        index = _read_json(path, SAFETENSORS_INDEX_FILE)
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ValueError(
                f"{os.path.join(path, SAFETENSORS_INDEX_FILE)} has no 'weight_map' "
                "(an object from tensor names to shard files)."
            )
        files = [os.path.join(path, name) for name in sorted(set(weight_map.values()))]
        absent = [file for file in files if not os.path.isfile(file)]
        if absent:
            raise FileNotFoundError(
                f"{os.path.join(path, SAFETENSORS_INDEX_FILE)} lists shards that are "
                f"missing: {', '.join(absent)}."
            )
        return files
    pickled = [name for name in PICKLED_WEIGHTS_FILES if os.path.isfile(os.path.join(path, name))]
    if pickled:
        raise ValueError(
            f"The transformers model directory {path} has its weights only as "
            f"{pickled[0]}, a pickle, which keras_siglip does not load (unpickling runs "
            "code from the file). Convert it to safetensors with transformers, e.g. "
            "`SiglipModel.from_pretrained(directory).save_pretrained(new_directory)`, "
            "which writes model.safetensors."
        )
    raise FileNotFoundError(
        f"The transformers model directory {path} has no {SAFETENSORS_FILE} or "
        f"{SAFETENSORS_INDEX_FILE}."
    )


class _SafetensorsCheckpoint:
    """The arrays of one or more safetensors files, read one at a time.

    The headers give every name and shape before any array is read. Arrays are
    read with the `safetensors` library's NumPy API, except bfloat16 ones, which
    NumPy has no type for: those are read from the file's buffer and widened to
    float32, exactly.
    """

    def __init__(self, files):
        self.files = files
        self.shapes = {}
        self._entries = {}
        for file in files:
            for key, entry in _safetensors_header(file).items():
                if key in self._entries:
                    raise ValueError(
                        f"The tensor {key!r} is in both {self._entries[key]['file']} and "
                        f"{file}."
                    )
                self._entries[key] = {**entry, "file": file}
                self.shapes[key] = entry["shape"]
        self._handles = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self._stack.close()
        self._handles = {}

    def read(self, key):
        entry = self._entries[key]
        file = entry["file"]
        if entry["dtype"] == "BF16":
            return _read_bfloat16(file, entry)
        if file not in self._handles:
            from safetensors import safe_open

            self._handles[file] = self._stack.enter_context(safe_open(file, framework="np"))
        return self._handles[file].get_tensor(key)


def _safetensors_header(file):
    """`{name: {"dtype", "shape", "start", "end"}}` with absolute byte offsets.

    The format is an 8-byte little-endian header length, a JSON header of
    `{name: {"dtype", "shape", "data_offsets": [begin, end]}}` (offsets relative to
    the end of the header) and the data.
    """
    size = os.path.getsize(file)
    with open(file, "rb") as handle:
        prefix = handle.read(8)
        length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if length < 2 or 8 + length > size:
            raise ValueError(f"{file} is not a safetensors file (its header length is invalid).")
        try:
            header = json.loads(handle.read(length))
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"{file} is not a safetensors file (bad header: {error}).") from None
    header.pop("__metadata__", None)
    entries = {}
    for key, entry in header.items():
        try:
            begin, end = entry["data_offsets"]
            entries[key] = {
                "dtype": entry["dtype"],
                "shape": tuple(int(dimension) for dimension in entry["shape"]),
                "start": 8 + length + int(begin),
                "end": 8 + length + int(end),
            }
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"{file}: the header entry of {key!r} is malformed: {entry!r}."
            ) from None
        if entries[key]["end"] > size:
            raise ValueError(f"{file} is truncated: the data of {key!r} ends past the file's end.")
    return entries


def _read_bfloat16(file, entry):
    count = int(np.prod(entry["shape"]))
    if entry["end"] - entry["start"] != 2 * count:
        raise ValueError(
            f"{file}: a bfloat16 tensor of shape {entry['shape']} needs {2 * count} bytes, "
            f"its header gives {entry['end'] - entry['start']}."
        )
    raw = np.fromfile(file, dtype="<u2", count=count, offset=entry["start"])
    # bfloat16 is the upper half of a float32.
    return (raw.astype(np.uint32) << 16).view(np.float32).reshape(entry["shape"])


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
    vocabulary = os.path.join(path, VOCABULARY_FILE)
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
        model_size = _square(
            "vision_config.image_size",
            _section(hf_config, "vision_config").get("image_size", VISION_DEFAULTS["image_size"]),
        )
    processor = _read_json(path, IMAGE_PROCESSOR_FILE, required=False)
    if processor is None:
        if model_size is None:
            raise FileNotFoundError(
                f"The transformers model directory {path} has neither "
                f"{IMAGE_PROCESSOR_FILE} nor {CONFIG_FILE} to take the image size from."
            )
        return SigLIPPreprocessor(tokenizer, image_size=model_size)
    file = os.path.join(path, IMAGE_PROCESSOR_FILE)
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
    text = _section(hf_config, "text_config")
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
            f"{file} resizes images to {height}x{width}; keras_siglip's models take "
            "square images."
        )
    return height
