"""Presets: builtin architectures (and, where bundled, weights), preset directories,
and loading from other libraries' checkpoints.

Each builtin preset is one JSON data file in the repository's `presets/` folder,
installed as the package data `keras_siglip.builtin_presets`.

Importing this package registers its loaders in `keras_siglip.preset_hooks`, through
which `SigLIP.from_preset`, `SigLIP.save_to_preset` and
`SigLIPPreprocessor.from_preset` reach them without importing this package (which
sits above the model and the preprocessing).
"""

from keras_siglip import preset_hooks
from keras_siglip.presets import directory
from keras_siglip.presets.registry import get_preset, list_presets, load_model, load_preprocessor

preset_hooks.register(
    load_model=load_model,
    save_model=directory.save_to_preset,
    load_preprocessor=load_preprocessor,
)

__all__ = ["get_preset", "list_presets", "load_model", "load_preprocessor"]
