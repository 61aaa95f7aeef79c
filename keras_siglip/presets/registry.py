"""Read the builtin preset data files and build models from them."""

import functools
import importlib.resources
import json
import os

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
            f"Unknown preset {name!r}. Builtin presets: {', '.join(sorted(presets))}."
        )
    return json.loads(json.dumps(presets[name]))


def load_model(model_class, preset, load_weights=True, **overrides):
    """Build `model_class` from `preset`: a builtin preset name or a preset directory."""
    from keras_siglip.presets import directory

    if directory.is_preset_directory(preset):
        if overrides:
            raise ValueError(
                f"The preset directory {preset} fixes the architecture; arguments "
                f"{sorted(overrides)} cannot override it."
            )
        return directory.load_model_from_directory(model_class, preset, load_weights)
    if not isinstance(preset, str):
        raise ValueError(
            f"`preset` must be a builtin preset name or a preset directory, got {preset!r}."
        )
    if preset not in _builtin_presets():
        tried = "a builtin preset name"
        if os.path.isdir(preset):
            tried += f"; a preset directory ({preset} exists but has no config.json)"
        raise ValueError(
            f"Unknown preset {preset!r}: it is not {tried}. Builtin presets: "
            f"{', '.join(list_presets())}."
        )
    data = get_preset(preset)
    config = {**data["config"], **overrides}
    model = model_class.from_variant(**config)
    if load_weights:
        weights = data.get("weights")
        if not weights:
            raise ValueError(
                f"Preset {preset!r} is an architecture without weights; call "
                "`from_preset(..., load_weights=False)` to build it freshly initialised."
            )
        raise NotImplementedError(
            f"Preset {preset!r} takes its weights from {weights['source']} "
            f"({weights['format']} format). Downloading and converting official "
            "checkpoints is not available in this version; build the architecture "
            "with `load_weights=False`."
        )
    return model
