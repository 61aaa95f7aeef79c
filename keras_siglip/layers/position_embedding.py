"""Learned position embeddings for token sequences and for image patch grids."""

import keras
import numpy as np
from keras import ops

from keras_siglip.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_siglip")
class PositionEmbedding(keras.layers.Layer):
    """Add a learned embedding to each position of a fixed-length sequence.

    Args:
        sequence_length: number of positions.
        initializer: initializer of the `(sequence_length, dim)` table.

    Input and output: `(batch, sequence_length, dim)`.
    """

    def __init__(self, sequence_length, initializer="random_normal", **kwargs):
        super().__init__(**kwargs)
        check_positive_int("sequence_length", sequence_length)
        self.sequence_length = sequence_length
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.sequence_length, input_shape[-1]),
            initializer=self.initializer,
            name="embeddings",
        )

    def call(self, inputs):
        return inputs + ops.cast(self.embeddings, inputs.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_siglip")
class PatchPositionEmbedding(keras.layers.Layer):
    """Learned position embedding of a square grid of patches (no class token).

    The table has `grid_size * grid_size` rows. When the layer meets a different
    number of patches (an image size other than the one it was built for), or loads
    weights saved for another grid, the table is resized bilinearly as a 2-D image,
    as big_vision does when it fine-tunes at a new resolution.

    Args:
        grid_size: patches per side the table is built for.
        initializer: initializer of the table; SigLIP uses a normal with standard
            deviation `1 / sqrt(dim)`, the default here.

    Input and output: `(batch, num_patches, dim)` with `num_patches` a square.
    """

    def __init__(self, grid_size, initializer=None, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("grid_size", grid_size)
        self.grid_size = grid_size
        self.initializer = None if initializer is None else keras.initializers.get(initializer)

    def build(self, input_shape):
        dim = input_shape[-1]
        initializer = self.initializer or keras.initializers.RandomNormal(stddev=1.0 / np.sqrt(dim))
        self.embeddings = self.add_weight(
            shape=(self.grid_size * self.grid_size, dim),
            initializer=initializer,
            name="embeddings",
        )

    def call(self, inputs):
        num_patches = inputs.shape[1]
        embeddings = self.embeddings
        if num_patches is not None and num_patches != self.grid_size**2:
            embeddings = resize_position_embeddings(
                embeddings, _grid_side("the input's patch count", num_patches)
            )
        return inputs + ops.cast(embeddings, inputs.dtype)

    def load_own_variables(self, store):
        saved = store["0"]
        if tuple(saved.shape) != tuple(self.embeddings.shape):
            if saved.ndim != 2 or saved.shape[1] != self.embeddings.shape[1]:
                raise ValueError(
                    f"Cannot load position embeddings of shape {tuple(saved.shape)} "
                    f"into layer '{self.name}' whose table has shape "
                    f"{tuple(self.embeddings.shape)}: the embedding sizes differ."
                )
            saved = resize_position_embeddings(np.asarray(saved), self.grid_size)
        self.embeddings.assign(saved)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grid_size": self.grid_size,
                "initializer": None
                if self.initializer is None
                else keras.initializers.serialize(self.initializer),
            }
        )
        return config


def resize_position_embeddings(embeddings, grid_size):
    """Resize a `(side * side, dim)` table to `(grid_size * grid_size, dim)`.

    Bilinear, half-pixel centres, no antialiasing: the same on every backend.
    """
    num_positions, dim = embeddings.shape
    side = _grid_side("the position table's length", num_positions)
    grid = ops.reshape(ops.convert_to_tensor(embeddings), (1, side, side, dim))
    resized = ops.image.resize(
        grid,
        (grid_size, grid_size),
        interpolation="bilinear",
        antialias=False,
        data_format="channels_last",
    )
    return ops.reshape(resized, (grid_size * grid_size, dim))


def _grid_side(what, num_patches):
    side = int(round(num_patches**0.5))
    if side * side != num_patches:
        raise ValueError(
            f"Patch position embeddings need a square grid of patches; {what} is "
            f"{num_patches}, which is not a square."
        )
    return side
