"""What both towers share: their stack of transformer blocks and their dtype handling."""

import keras

from keras_siglip.layers import TransformerEncoderBlock


def encoder_blocks(
    num_layers, hidden_dim, num_heads, intermediate_dim, layer_norm_epsilon, dropout, dtype
):
    """`num_layers` pre-norm blocks named `encoder_block_{index}`."""
    return [
        TransformerEncoderBlock(
            hidden_dim,
            num_heads,
            intermediate_dim,
            layer_norm_epsilon=layer_norm_epsilon,
            dropout=dropout,
            dtype=dtype,
            name=f"encoder_block_{index}",
        )
        for index in range(num_layers)
    ]


def resolve_dtype(dtype):
    """The policy a tower's layers get; a functional model does not keep `dtype`."""
    return keras.dtype_policies.get(dtype) if dtype is not None else keras.config.dtype_policy()


def config_with_policy(config):
    """`config` with a serialised dtype policy turned back into a policy."""
    config = dict(config)
    if isinstance(config.get("dtype"), dict):
        config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
    return config
