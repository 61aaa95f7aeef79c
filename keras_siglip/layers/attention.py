"""Multi-head attention with separate query, key, value and output projections."""

import keras
from keras import ops

from keras_siglip.layers.dense import TokenDense
from keras_siglip.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_siglip")
class MultiHeadAttention(keras.layers.Layer):
    """Unmasked multi-head dot-product attention.

    The four projections are `(hidden_dim, hidden_dim)` Dense layers, the layout of
    big_vision, transformers and open_clip checkpoints, so conversion is a transpose.
    The attention itself goes through `keras.ops.dot_product_attention`, which each
    backend lowers to its fused kernel (jax.nn.dot_product_attention, torch's
    scaled_dot_product_attention).

    Args:
        hidden_dim: model width; must be divisible by `num_heads`.
        num_heads: number of attention heads.
        kernel_initializer: initializer of the projection kernels.

    Call arguments:
        query: `(batch, query_length, hidden_dim)`.
        value: `(batch, key_length, hidden_dim)`; defaults to `query`
            (self-attention).

    Output: `(batch, query_length, hidden_dim)`.
    """

    def __init__(self, hidden_dim, num_heads, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("num_heads", num_heads)
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads})."
            )
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        def projection(name):
            return TokenDense(
                hidden_dim,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=name,
            )

        self.query_projection = projection("query")
        self.key_projection = projection("key")
        self.value_projection = projection("value")
        self.output_projection = projection("output")

    def build(self, query_shape, value_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        self.query_projection.build(query_shape)
        self.key_projection.build(value_shape)
        self.value_projection.build(value_shape)
        self.output_projection.build(tuple(query_shape[:-1]) + (self.hidden_dim,))

    def call(self, query, value=None):
        value = query if value is None else value
        batch_size = ops.shape(query)[0]

        def split_heads(x):
            return ops.reshape(x, (batch_size, -1, self.num_heads, self.head_dim))

        attended = ops.dot_product_attention(
            split_heads(self.query_projection(query)),
            split_heads(self.key_projection(value)),
            split_heads(self.value_projection(value)),
        )
        attended = ops.reshape(attended, (batch_size, -1, self.hidden_dim))
        return self.output_projection(attended)

    def compute_output_shape(self, query_shape, value_shape=None):
        return tuple(query_shape[:-1]) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
