"""SigLIP's image and text towers, and the named variants that size them."""

from keras_siglip.towers.image_encoder import ImageEncoder
from keras_siglip.towers.text_encoder import TextEncoder
from keras_siglip.towers.variants import VARIANTS, count_parameters, decode_variant

__all__ = ["ImageEncoder", "TextEncoder", "VARIANTS", "count_parameters", "decode_variant"]
