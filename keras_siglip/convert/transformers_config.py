"""Reading a transformers SigLIP `config.json`: recognising a transformers directory
and turning its config into the constructor arguments of keras_siglip's towers."""

import json
import os

from keras_siglip.convert.weights import check_config_sizes
from keras_siglip.files import file_inside

__all__ = [
    "CONFIG_FILE",
    "TEXT_DEFAULTS",
    "VISION_DEFAULTS",
    "config_from_transformers",
    "is_transformers_directory",
    "config_section",
    "square_size",
]

CONFIG_FILE = "config.json"

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
# The config.json field behind each tower argument, for errors.
FIELDS = {
    ("image_encoder", "image_size"): "vision_config.image_size",
    ("image_encoder", "patch_size"): "vision_config.patch_size",
    ("image_encoder", "hidden_dim"): "vision_config.hidden_size",
    ("image_encoder", "num_layers"): "vision_config.num_hidden_layers",
    ("image_encoder", "num_heads"): "vision_config.num_attention_heads",
    ("image_encoder", "intermediate_dim"): "vision_config.intermediate_size",
    ("text_encoder", "vocabulary_size"): "text_config.vocab_size",
    ("text_encoder", "sequence_length"): "text_config.max_position_embeddings",
    ("text_encoder", "hidden_dim"): "text_config.hidden_size",
    ("text_encoder", "num_layers"): "text_config.num_hidden_layers",
    ("text_encoder", "num_heads"): "text_config.num_attention_heads",
    ("text_encoder", "intermediate_dim"): "text_config.intermediate_size",
    ("text_encoder", "embedding_dim"): "text_config.projection_size",
}
# transformers' names of the tanh approximation of GELU, which keras_siglip's MLP
# computes (the three differ only in rounding of sqrt(2 / pi)).
TANH_GELU_NAMES = ("gelu_pytorch_tanh", "gelu_new", "gelu_fast")


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
        with open(file_inside(path, CONFIG_FILE), encoding="utf-8") as file:
            config = json.load(file)
    except (OSError, ValueError):  # a config linked outside the directory is none
        return False
    return isinstance(config, dict) and "model_type" in config


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
        ValueError: not a SigLIP config, one that keras_siglip's towers cannot
            express (another activation, no pooling head, non-square images, a
            text embedding size other than the image width), or sizes above the
            towers' ceilings (`check_config_sizes`); the message names the field.

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
    text = {**TEXT_DEFAULTS, **config_section(hf_config, "text_config")}
    vision = {**VISION_DEFAULTS, **config_section(hf_config, "vision_config")}
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
    image_size = square_size("vision_config.image_size", vision["image_size"])
    patch_size = square_size("vision_config.patch_size", vision["patch_size"])
    projection_size = text["projection_size"] or text["hidden_size"]
    config = {
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
    check_config_sizes(config, FIELDS, CONFIG_FILE)
    if projection_size != vision["hidden_size"]:
        raise ValueError(
            f"{CONFIG_FILE} gives the text tower an output size "
            f"(`text_config.projection_size`, default its `hidden_size`) of "
            f"{projection_size} but the image tower a width of {vision['hidden_size']}; "
            "both must embed into the same space."
        )
    return config


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


def config_section(hf_config, name):
    """The values of object `name` of `hf_config` that are not null."""
    section = hf_config.get(name)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ValueError(f"{CONFIG_FILE} `{name}` must be an object, got {section!r}.")
    return {key: value for key, value in section.items() if value is not None}


def square_size(name, value):
    """One size from a size or a pair of equal sizes; `name` is for the error."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(
                f"{CONFIG_FILE} `{name}` is {list(value)}; keras_siglip takes square "
                "images and patches (one size, or two equal ones)."
            )
        value = value[0]
    return value
