"""Building blocks of SigLIP's two towers."""

from keras_siglip.layers.attention import MultiHeadAttention
from keras_siglip.layers.attention_pooling import AttentionPooling
from keras_siglip.layers.dense import TokenDense
from keras_siglip.layers.mlp import MLP
from keras_siglip.layers.patch_embedding import PatchEmbedding
from keras_siglip.layers.position_embedding import (
    PatchPositionEmbedding,
    PositionEmbedding,
    resize_position_embeddings,
)
from keras_siglip.layers.transformer_block import TransformerEncoderBlock

__all__ = [
    "AttentionPooling",
    "MLP",
    "MultiHeadAttention",
    "PatchEmbedding",
    "PatchPositionEmbedding",
    "PositionEmbedding",
    "TokenDense",
    "TransformerEncoderBlock",
    "resize_position_embeddings",
]
