"""Builtin presets: named architectures (and, where bundled, weights).

Each builtin preset is one JSON data file in the repository's `presets/` folder,
installed as the package data `keras_siglip.builtin_presets`.
"""

from keras_siglip.presets.registry import get_preset, list_presets, load_model

__all__ = ["get_preset", "list_presets", "load_model"]
