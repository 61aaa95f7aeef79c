"""Builtin preset data files, installed as `keras_siglip.builtin_presets`."""
