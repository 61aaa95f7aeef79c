"""The two-layer feed-forward block of SigLIP's transformers."""

import keras

from keras_siglip.layers.dense import TokenDense
from keras_siglip.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_siglip")
class MLP(keras.layers.Layer):
    """`Dense(intermediate_dim) -> tanh-approximate GELU -> Dense(hidden_dim)`.

    Args:
        hidden_dim: input and output width.
        intermediate_dim: hidden width.
        dropout: dropout rate after the activation.
    """

    def __init__(self, hidden_dim, intermediate_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("intermediate_dim", intermediate_dim)
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout_rate = dropout
        self.expand = TokenDense(intermediate_dim, dtype=self.dtype_policy, name="expand")
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.contract = TokenDense(hidden_dim, dtype=self.dtype_policy, name="contract")

    def build(self, input_shape):
        self.expand.build(input_shape)
        self.contract.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))

    def call(self, inputs, training=None):
        hidden = keras.activations.gelu(self.expand(inputs), approximate=True)
        return self.contract(self.dropout(hidden, training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout_rate,
            }
        )
        return config
