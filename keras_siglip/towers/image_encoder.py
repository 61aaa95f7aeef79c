"""The image tower: a ViT with learned 2-D positions and an attention-pooling head."""

import keras

from keras_siglip.layers import (
    AttentionPooling,
    PatchEmbedding,
    PatchPositionEmbedding,
)
from keras_siglip.towers import encoder_stack as stack
from keras_siglip.towers.variants import check_tower_sizes
from keras_siglip.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_siglip")
class ImageEncoder(keras.Model):
    """SigLIP's image tower.

    Patches (VALID convolution) -> learned position embedding (no class token) ->
    `num_layers` pre-norm transformer blocks -> LayerNorm -> multi-head attention
    pooling. The output is the (unnormalised) image embedding of size `hidden_dim`.

    Args:
        image_size: side of the square input images, in pixels.
        patch_size: side of a square patch.
        hidden_dim: width.
        num_layers: transformer blocks.
        num_heads: attention heads.
        intermediate_dim: MLP width.
        layer_norm_epsilon: LayerNorm epsilon.
        dropout: dropout rate in the transformer blocks.
        dtype: dtype policy of the tower, e.g. `"mixed_bfloat16"`.

    Input: `(batch, image_size, image_size, 3)` floats in [-1, 1].
    Output: `(batch, hidden_dim)`.

    Example:

    >>> import numpy as np
    >>> encoder = ImageEncoder(image_size=32, patch_size=8, hidden_dim=16,
    ...                        num_layers=1, num_heads=2, intermediate_dim=32)
    >>> tuple(encoder(np.zeros((2, 32, 32, 3), "float32")).shape)
    (2, 16)
    """

    def __init__(
        self,
        image_size,
        patch_size,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        layer_norm_epsilon=1e-6,
        dropout=0.0,
        dtype=None,
        **kwargs,
    ):
        check_positive_int("image_size", image_size)
        check_positive_int("patch_size", patch_size)
        check_positive_int("num_layers", num_layers)
        check_tower_sizes(
            "image_encoder",
            image_size=image_size,
            patch_size=patch_size,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate_dim=intermediate_dim,
        )
        if patch_size > image_size:
            raise ValueError(
                f"`patch_size` ({patch_size}) must not exceed `image_size` ({image_size})."
            )
        kwargs.setdefault("name", "image_encoder")

        dtype = stack.resolve_dtype(dtype)

        # === Layers ===
        # Locals until the functional model exists: the torch backend refuses
        # layer attributes set before `keras.Model.__init__`.
        patch_embedding = PatchEmbedding(
            patch_size, hidden_dim, dtype=dtype, name="patch_embedding"
        )
        position_embedding = PatchPositionEmbedding(
            image_size // patch_size, dtype=dtype, name="position_embedding"
        )
        encoder_blocks = stack.encoder_blocks(
            num_layers, hidden_dim, num_heads, intermediate_dim, layer_norm_epsilon, dropout, dtype
        )
        final_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="final_norm"
        )
        pooling = AttentionPooling(
            hidden_dim,
            num_heads,
            intermediate_dim,
            layer_norm_epsilon=layer_norm_epsilon,
            dtype=dtype,
            name="pooling",
        )

        # === Functional model ===
        images = keras.Input(shape=(image_size, image_size, 3), name="images")
        x = position_embedding(patch_embedding(images))
        for block in encoder_blocks:
            x = block(x)
        embeddings = pooling(final_norm(x))
        super().__init__(inputs=images, outputs=embeddings, dtype=dtype, **kwargs)

        # === Config ===
        self.tower_dtype_policy = dtype
        self.patch_embedding = patch_embedding
        self.position_embedding = position_embedding
        self.encoder_blocks = encoder_blocks
        self.final_norm = final_norm
        self.pooling = pooling
        self.image_size = image_size
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dropout = dropout

    @property
    def embedding_dim(self):
        return self.hidden_dim

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.tower_dtype_policy),
            "image_size": self.image_size,
            "patch_size": self.patch_size,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**stack.config_with_policy(config))
