"""Read the builtin preset data files and build models from them."""

import difflib
import functools
import importlib.resources
import json
import os
import re

from keras_siglip.convert import big_vision, hub, keras_hub, transformers
from keras_siglip.convert.transformers import REMOTE_PATTERNS
from keras_siglip.presets import directory
from keras_siglip.presets.directory import recover_interrupted_save

_REQUIRED_CONFIG_KEYS = ("variant", "image_size", "sequence_length", "vocabulary_size")


@functools.cache
def _builtin_presets():
    presets = {}
    for entry in importlib.resources.files("keras_siglip.builtin_presets").iterdir():
        if not entry.name.endswith(".json"):
            continue
        preset = json.loads(entry.read_text(encoding="utf-8"))
        name = preset.get("name")
        if name != entry.name[: -len(".json")]:
            raise ValueError(
                f"Builtin preset file {entry.name} must hold 'name': "
                f"{entry.name[:-5]!r}; it holds {name!r}."
            )
        missing = [key for key in _REQUIRED_CONFIG_KEYS if key not in preset["config"]]
        if missing:
            raise ValueError(f"Builtin preset {name!r} lacks config keys {missing}.")
        presets[name] = preset
    return presets


def list_presets():
    """Names of the builtin presets, sorted.

    Example:

    >>> "siglip_base_patch16_224" in list_presets()
    True
    """
    return sorted(_builtin_presets())


def get_preset(name):
    """The data of builtin preset `name` (a dict; see the files in `presets/`)."""
    presets = _builtin_presets()
    if name not in presets:
        raise ValueError(
            f"Unknown preset {name!r}.{_did_you_mean(name)} Builtin presets: "
            f"{', '.join(sorted(presets))}."
        )
    return json.loads(json.dumps(presets[name]))


# How `from_preset` reads each kind of source; see `identify`.
KINDS = {
    "keras_siglip": "a keras_siglip preset directory (config.json, model.weights.h5)",
    "transformers": (
        "a transformers SigLIP directory (config.json with model_type 'siglip', *.safetensors)"
    ),
    "keras_hub": "a keras-hub SigLIP preset directory (config.json naming SigLIPBackbone)",
    "big_vision": "a big_vision checkpoint (.npz)",
}
REMOTE_SCHEMES = ("hf://", "kaggle://")
# A bare Hugging Face Hub id, as model cards show it: OWNER/NAME[@REVISION].
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*(@[\w./-]+)?")
KERAS_PRESET_PATTERNS = ("*.weights.h5", "assets/**")


def identify(preset):
    """What kind of source `preset` is: `("builtin", name)`, `("remote", handle)` or
    `(kind, local path)` with `kind` a key of `KINDS`.

    Raises:
        ValueError: nothing matches; the message lists what was tried.
    """
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    if not isinstance(preset, str):
        raise ValueError(
            "`preset` must be a builtin preset name, a local path or an hf:// or kaggle:// "
            f"handle (a string), got {preset!r}."
        )
    if preset.startswith(REMOTE_SCHEMES):
        return "remote", preset
    # A save killed mid-swap may have left the preset in its backup sibling.
    recover_interrupted_save(preset)
    if os.path.isfile(preset):
        if preset.endswith(".npz"):
            return "big_vision", preset
        raise ValueError(
            f"Cannot load {preset!r}: it is a file but not a big_vision .npz checkpoint. A "
            f"preset is one of: {_tried_list()}."
        )
    if os.path.isdir(preset):
        config_file = os.path.join(preset, "config.json")
        if not os.path.isfile(config_file):
            raise ValueError(
                f"Cannot load {preset!r}: the directory has no config.json, so it is none of: "
                f"{_tried_list()}."
            )
        from keras_siglip.presets.directory import read_json

        config = read_json(preset, "config.json")
        kind = _directory_kind(config)
        if kind is None:
            raise ValueError(
                f"Cannot load {preset!r}: its config.json describes neither a keras_siglip "
                "SigLIP (class_name 'SigLIP'), a transformers SigLIP (model_type 'siglip') nor "
                f"a keras-hub SigLIPBackbone; it begins {json.dumps(config)[:200]}. Tried: "
                f"{_tried_list()}."
            )
        return kind, preset
    if preset in _builtin_presets():
        return "builtin", preset
    if HUB_ID.fullmatch(preset):
        if os.path.isdir(preset.split("/")[0]):
            raise ValueError(
                f"Cannot load {preset!r}: no such file or directory (its folder "
                f"{preset.split('/')[0]!r} exists here, so it is not taken as a Hugging Face "
                f"Hub id; write hf://{preset} for the Hub)."
            )
        # `google/siglip-base-patch16-224`: no such local path, so the hub id.
        return "remote", "hf://" + preset
    raise ValueError(
        f"Unknown preset {preset!r}: it is no builtin preset name, no existing local path, "
        f"no Hugging Face Hub id (OWNER/NAME) and no hf:// or kaggle:// handle."
        f"{_did_you_mean(preset)} Tried: {_tried_list()}. Builtin presets: "
        f"{', '.join(list_presets())}."
    )


def _did_you_mean(name):
    """ " Did you mean ...?" with the builtin names closest to `name`, or ""."""
    names = list_presets()
    # Compare without separators, so that "siglip-base-patch16-224" and
    # "SigLIP_Base_Patch16_224" find their preset.
    simplified = {re.sub(r"[\W_]", "", candidate.lower()): candidate for candidate in names}
    close = difflib.get_close_matches(
        re.sub(r"[\W_]", "", name.lower()), simplified, n=3, cutoff=0.6
    )
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(simplified[match]) for match in close) + "?"


def _tried_list():
    return "a builtin preset name; " + "; ".join(KINDS.values()) + "; an hf:// or kaggle:// handle"


def _directory_kind(config):
    if not isinstance(config, dict):
        return None
    if "model_type" in config:
        # Any transformers model: its loader explains why one that is not SigLIP
        # (SigLIP 2 NaFlex, CLIP, ...) cannot be read.
        return "transformers"
    class_name = config.get("class_name")
    registered = str(config.get("registered_name", "")) + " " + str(config.get("module", ""))
    if class_name == "SigLIPBackbone" or "keras_hub" in registered:
        return "keras_hub"
    if class_name is not None and "config" in config:
        return "keras_siglip"
    return None


def download(handle):
    """The local directory holding remote preset `handle` (downloaded, or cached).

    `hf://OWNER/NAME[@REVISION]` fetches what a transformers conversion reads and
    Keras presets hosted on the Hub (weights as safetensors or `.weights.h5` only:
    pickled `.bin` files are never fetched);
    `kaggle://OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]` a whole model version.
    Both go through `keras_siglip.convert.hub.download`.
    """
    return hub.download(handle, allow_patterns=[*REMOTE_PATTERNS, *KERAS_PRESET_PATTERNS])


def local_source(preset, load_weights=True):
    """`(kind, path)` of `preset` on local disk, downloading remote handles and
    the weights of builtin presets that name a remote source.

    Returns `("builtin", name)` for builtin presets built without weights.
    """
    kind, location = identify(preset)
    if kind == "builtin":
        weights = get_preset(location).get("weights")
        if not load_weights:
            return kind, location
        if not weights:
            raise ValueError(
                f"Preset {location!r} is an architecture without weights; call "
                "`from_preset(..., load_weights=False)` to build it freshly initialised."
            )
        kind, location = "remote", weights["source"]
    if kind == "remote":
        path = download(location)
        kind, path = identify(path)
        return kind, path
    return kind, location


# The `from_preset` arguments each converter takes besides the source.
CONVERTER_OPTIONS = {
    "keras_siglip": (),
    "transformers": ("dtype",),
    "keras_hub": ("dtype",),
    "big_vision": ("variant", "image_size", "sequence_length", "num_heads", "dtype"),
}
# `from_preset` arguments that every source takes: they are set on the loaded model.
MODEL_OPTIONS = ("locked_towers",)


def load_model(model_class, preset, load_weights=True, **overrides):
    """Build `model_class` from `preset`; see `SigLIP.from_preset` for what it may be."""
    kind, location = local_source(preset, load_weights)
    builtin = get_preset(preset) if identify(preset)[0] == "builtin" else None
    # A builtin preset may set model options (a LiT preset locks a tower); the
    # caller's arguments win.
    preset_options = dict((builtin or {}).get("model_options", {}))
    if "locked_towers" in preset_options:
        preset_options["locked_towers"] = tuple(preset_options["locked_towers"])
    overrides = {**preset_options, **overrides}
    if kind == "builtin":
        return model_class.from_variant(**{**builtin["config"], **overrides})
    model_options = {key: overrides.pop(key) for key in MODEL_OPTIONS if key in overrides}
    if builtin is not None:
        # A builtin preset's weights fix its architecture.
        overrides = {key: value for key, value in overrides.items() if key == "dtype"}
    unknown = sorted(set(overrides) - set(CONVERTER_OPTIONS[kind]))
    if unknown:
        allowed = CONVERTER_OPTIONS[kind]
        raise ValueError(
            f"The preset {preset!r} ({KINDS[kind]}) fixes the architecture; arguments "
            f"{unknown} cannot override it"
            f" (it takes only {[*allowed, *MODEL_OPTIONS]})."
        )
    if kind == "keras_siglip":
        model = directory.load_model_from_directory(model_class, location, load_weights)
    elif kind == "transformers":
        model = transformers.load_transformers_checkpoint(
            location, load_weights=load_weights, **overrides
        )
    elif kind == "keras_hub":
        model = keras_hub.load_keras_hub_preset(location, load_weights=load_weights, **overrides)
    else:
        if not load_weights:
            raise ValueError(
                f"{preset!r} is a big_vision checkpoint: its architecture is read from its "
                "weights, so it loads only with `load_weights=True`."
            )
        model = big_vision.load_big_vision_checkpoint(location, **overrides)
    if not isinstance(model, model_class):
        raise ValueError(
            f"{preset!r} holds a {type(model).__name__}, not a {model_class.__name__}."
        )
    if builtin is not None:
        _check_matches_builtin(model, builtin, location)
    for key, value in model_options.items():
        setattr(model, key, value)
    return model


def _check_matches_builtin(model, preset, location):
    """The downloaded checkpoint must be the architecture its preset file records."""
    expected = preset["config"]
    found = {
        "image_size": model.image_size,
        "sequence_length": model.sequence_length,
        "vocabulary_size": model.vocabulary_size,
    }
    differences = [
        f"{key} {found[key]} (preset file: {expected[key]})"
        for key in found
        if found[key] != expected[key]
    ]
    if differences:
        raise ValueError(
            f"The checkpoint downloaded for preset {preset['name']!r} ({location}) does not "
            f"match the preset file: {', '.join(differences)}."
        )


def load_preprocessor(preprocessor_class, preset):
    """The preprocessor that goes with `preset` (see `SigLIPPreprocessor.from_preset`)."""
    kind, location = (
        local_source(preset, load_weights=True)
        if not _is_bare_builtin(preset)
        else ("builtin", preset)
    )
    if kind == "keras_siglip":
        return preprocessor_class.from_directory(location)
    if kind == "transformers":
        return transformers.preprocessor_from_transformers(location)
    if kind == "keras_hub":
        return keras_hub.preprocessor_from_keras_hub(location)
    what = "a builtin architecture without weights" if kind == "builtin" else KINDS[kind]
    raise ValueError(
        f"The preset {preset!r} ({what}) "
        "carries no tokenizer; build a `SigLIPTokenizer` from the SentencePiece model that "
        "came with the checkpoint."
    )


def _is_bare_builtin(preset):
    return (
        isinstance(preset, str)
        and preset in _builtin_presets()
        and not get_preset(preset).get("weights")
    )
