"""The text tower: a non-causal transformer pooled at the last position."""

import keras
import numpy as np

from keras_siglip.layers import PositionEmbedding
from keras_siglip.towers import encoder_stack as stack
from keras_siglip.towers.variants import check_tower_sizes
from keras_siglip.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_siglip")
class TextEncoder(keras.Model):
    """SigLIP's text tower.

    Token embedding + learned position embedding -> `num_layers` pre-norm
    transformer blocks with no attention mask (padding included) -> LayerNorm ->
    the LAST position -> Dense head. SigLIP's tokenisation pads every text with the
    EOS id to the fixed `sequence_length` ("sticky EOS"), so the last position
    always sees an EOS token; texts padded to another length lose accuracy, which
    is why the length is fixed here.

    Args:
        vocabulary_size: number of token ids.
        sequence_length: fixed number of tokens per text (64; 16 for So400m/14-224).
        hidden_dim: width.
        num_layers: transformer blocks.
        num_heads: attention heads.
        intermediate_dim: MLP width.
        embedding_dim: output size of the head; defaults to `hidden_dim`.
        layer_norm_epsilon: LayerNorm epsilon.
        dropout: dropout rate in the transformer blocks.
        dtype: dtype policy of the tower.

    Input: `(batch, sequence_length)` integer token ids.
    Output: `(batch, embedding_dim)`.

    Example:

    >>> import numpy as np
    >>> encoder = TextEncoder(vocabulary_size=100, sequence_length=8, hidden_dim=16,
    ...                       num_layers=1, num_heads=2, intermediate_dim=32)
    >>> tuple(encoder(np.ones((2, 8), "int32")).shape)
    (2, 16)
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        embedding_dim=None,
        layer_norm_epsilon=1e-6,
        dropout=0.0,
        dtype=None,
        **kwargs,
    ):
        check_positive_int("vocabulary_size", vocabulary_size)
        check_positive_int("sequence_length", sequence_length)
        check_positive_int("num_layers", num_layers)
        embedding_dim = hidden_dim if embedding_dim is None else embedding_dim
        check_positive_int("embedding_dim", embedding_dim)
        check_tower_sizes(
            "text_encoder",
            vocabulary_size=vocabulary_size,
            sequence_length=sequence_length,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate_dim=intermediate_dim,
            embedding_dim=embedding_dim,
        )
        kwargs.setdefault("name", "text_encoder")

        dtype = stack.resolve_dtype(dtype)

        # === Layers ===
        # Locals until the functional model exists: the torch backend refuses
        # layer attributes set before `keras.Model.__init__`.
        token_embedding = keras.layers.Embedding(
            vocabulary_size,
            hidden_dim,
            embeddings_initializer=keras.initializers.RandomNormal(
                stddev=1.0 / np.sqrt(hidden_dim)
            ),
            dtype=dtype,
            name="token_embedding",
        )
        position_embedding = PositionEmbedding(
            sequence_length,
            initializer=keras.initializers.RandomNormal(stddev=1.0 / np.sqrt(hidden_dim)),
            dtype=dtype,
            name="position_embedding",
        )
        encoder_blocks = stack.encoder_blocks(
            num_layers, hidden_dim, num_heads, intermediate_dim, layer_norm_epsilon, dropout, dtype
        )
        final_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="final_norm"
        )
        head = keras.layers.Dense(embedding_dim, dtype=dtype, name="head")

        # === Functional model ===
        token_ids = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
        x = position_embedding(token_embedding(token_ids))
        for block in encoder_blocks:
            x = block(x)
        x = final_norm(x)
        embeddings = head(x[:, -1])
        super().__init__(inputs=token_ids, outputs=embeddings, dtype=dtype, **kwargs)

        # === Config ===
        self.tower_dtype_policy = dtype
        self.token_embedding = token_embedding
        self.position_embedding = position_embedding
        self.encoder_blocks = encoder_blocks
        self.final_norm = final_norm
        self.head = head
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.embedding_dim = embedding_dim
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dropout = dropout

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.tower_dtype_policy),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "embedding_dim": self.embedding_dim,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**stack.config_with_policy(config))
