"""The pre-norm transformer encoder block shared by both towers."""

import keras

from keras_siglip.layers.attention import MultiHeadAttention
from keras_siglip.layers.mlp import MLP


@keras.saving.register_keras_serializable(package="keras_siglip")
class TransformerEncoderBlock(keras.layers.Layer):
    """`x + MHA(LN(x))`, then `x + MLP(LN(x))`; no attention mask (non-causal).

    Args:
        hidden_dim: model width.
        num_heads: attention heads.
        intermediate_dim: MLP hidden width.
        layer_norm_epsilon: LayerNorm epsilon (1e-6 in SigLIP).
        dropout: dropout rate on both residual branches.

    Input and output: `(batch, sequence_length, hidden_dim)`.

    Example:

    >>> import numpy as np
    >>> block = TransformerEncoderBlock(hidden_dim=8, num_heads=2, intermediate_dim=16)
    >>> tuple(block(np.zeros((2, 5, 8), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        hidden_dim,
        num_heads,
        intermediate_dim,
        layer_norm_epsilon=1e-6,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dropout_rate = dropout
        policy = self.dtype_policy
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="attention_norm"
        )
        self.attention = MultiHeadAttention(hidden_dim, num_heads, dtype=policy, name="attention")
        self.mlp_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="mlp_norm"
        )
        self.mlp = MLP(hidden_dim, intermediate_dim, dtype=policy, name="mlp")
        self.dropout = keras.layers.Dropout(dropout, dtype=policy)

    def build(self, input_shape):
        for layer in (self.attention_norm, self.attention, self.mlp_norm, self.mlp):
            layer.build(input_shape)

    def call(self, inputs, training=None):
        x = inputs + self.dropout(self.attention(self.attention_norm(inputs)), training=training)
        return x + self.dropout(self.mlp(self.mlp_norm(x)), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "dropout": self.dropout_rate,
            }
        )
        return config
