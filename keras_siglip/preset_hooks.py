"""Where `SigLIP` and `SigLIPPreprocessor` find the preset machinery.

`keras_siglip.presets` sits above the model and the preprocessing: it builds them,
through the converters of `keras_siglip.convert`. So `SigLIP.from_preset`,
`SigLIP.save_to_preset` and `SigLIPPreprocessor.from_preset` cannot import it
without closing a cycle. Instead they call the functions held here, which
`keras_siglip.presets` registers when it is imported (and `import keras_siglip`
imports it). Imports then point one way: presets -> convert -> model,
preprocessing -> this module.
"""

# name -> function; filled by `keras_siglip.presets`.
_HOOKS = {}
HOOK_NAMES = ("load_model", "save_model", "load_preprocessor")


def register(**functions):
    """Install the preset functions, by name (one of `HOOK_NAMES`)."""
    unknown = sorted(set(functions) - set(HOOK_NAMES))
    if unknown:
        raise ValueError(f"Unknown preset hooks {unknown}; the hooks are {HOOK_NAMES}.")
    _HOOKS.update(functions)


def hook(name):
    """The function registered as `name`; an error says what to import if none is."""
    if name not in _HOOKS:
        raise RuntimeError(
            f"No preset function {name!r} is registered: `import keras_siglip.presets` "
            "(or `import keras_siglip`) installs them."
        )
    return _HOOKS[name]


def load_model(model_class, preset, **kwargs):
    """`keras_siglip.presets.load_model`: `model_class` built from `preset`."""
    return hook("load_model")(model_class, preset, **kwargs)


def save_model(
    model, path, preprocessor=None, description=None, metadata=None, allow_non_finite=False
):
    """`keras_siglip.presets.directory.save_to_preset`: `model` as a preset directory."""
    return hook("save_model")(
        model, path, preprocessor, description, metadata, allow_non_finite=allow_non_finite
    )


def load_preprocessor(preprocessor_class, preset):
    """`keras_siglip.presets.load_preprocessor`: the preprocessor of `preset`."""
    return hook("load_preprocessor")(preprocessor_class, preset)
