"""Multi-head attention pooling (MAP), the image tower's head."""

import keras
from keras import ops

from keras_siglip.layers.attention import MultiHeadAttention
from keras_siglip.layers.mlp import MLP


@keras.saving.register_keras_serializable(package="keras_siglip")
class AttentionPooling(keras.layers.Layer):
    """Pool a token sequence into one vector with a learned probe.

    The probe `(1, 1, hidden_dim)` attends to all tokens; then
    `out = out + MLP(LN(out))`, and the single pooled token is returned.

    Args:
        hidden_dim: model width.
        num_heads: attention heads.
        intermediate_dim: MLP hidden width.
        layer_norm_epsilon: LayerNorm epsilon.

    Input: `(batch, num_tokens, hidden_dim)`. Output: `(batch, hidden_dim)`.

    Example:

    >>> import numpy as np
    >>> pool = AttentionPooling(hidden_dim=8, num_heads=2, intermediate_dim=16)
    >>> tuple(pool(np.zeros((3, 5, 8), "float32")).shape)
    (3, 8)
    """

    def __init__(self, hidden_dim, num_heads, intermediate_dim, layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.layer_norm_epsilon = layer_norm_epsilon
        policy = self.dtype_policy
        self.attention = MultiHeadAttention(hidden_dim, num_heads, dtype=policy, name="attention")
        self.mlp_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="mlp_norm"
        )
        self.mlp = MLP(hidden_dim, intermediate_dim, dtype=policy, name="mlp")

    def build(self, input_shape):
        self.probe = self.add_weight(
            shape=(1, 1, self.hidden_dim),
            initializer="glorot_uniform",
            name="probe",
        )
        probe_shape = (input_shape[0], 1, self.hidden_dim)
        self.attention.build(probe_shape, input_shape)
        self.mlp_norm.build(probe_shape)
        self.mlp.build(probe_shape)

    def call(self, inputs):
        batch_size = ops.shape(inputs)[0]
        probe = ops.broadcast_to(
            ops.cast(self.probe, inputs.dtype), (batch_size, 1, self.hidden_dim)
        )
        pooled = self.attention(probe, inputs)
        pooled = pooled + self.mlp(self.mlp_norm(pooled))
        return pooled[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
