"""Datasets that ship with the package (no download)."""

from keras_siglip.data.emoji import EmojiDataset, ImageTextSplit, augment, load_emoji

__all__ = ["EmojiDataset", "ImageTextSplit", "augment", "load_emoji"]
