"""Datasets that ship with the package (no download)."""

from keras_siglip.data.shapes import ShapesDataset, load_shapes

__all__ = ["ShapesDataset", "load_shapes"]
