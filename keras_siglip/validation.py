"""Argument and input checks whose errors name the argument, the expected and the given."""

import keras
import numpy as np


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def concrete_values(tensor):
    """The values of `tensor` as a NumPy array, or `None` while it is being traced.

    Value checks (token ids in range) can only run on concrete inputs; inside a
    compiled `fit` step they are skipped. This is the one backend-specific place in
    input validation.
    """
    if isinstance(tensor, np.ndarray):
        return tensor
    if isinstance(tensor, keras.KerasTensor):
        return None
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        if isinstance(tensor, jax.core.Tracer):
            return None
        return np.asarray(tensor)
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly() or tf.is_symbolic_tensor(tensor):
            return None
        return tensor.numpy()
    if backend == "torch":
        return tensor.detach().cpu().numpy()
    return keras.ops.convert_to_numpy(tensor)


def check_images(images, image_size):
    """`images` must be a float batch of `image_size` squares with 3 channels last."""
    shape = tuple(images.shape)
    size = image_size
    expected = f"(batch, {size}, {size}, 3)"
    if len(shape) != 4:
        raise ValueError(
            f"`images` must have shape {expected} (channels last); got rank "
            f"{len(shape)} with shape {shape}."
        )
    if shape[-1] != 3:
        raise ValueError(
            f"`images` must have 3 channels last, shape {expected}; got shape "
            f"{shape}. Convert grey or RGBA images to RGB first."
        )
    if shape[1:3] != (size, size):
        raise ValueError(
            f"`images` must be {size}x{size} for this model, shape {expected}; "
            f"got shape {shape}. Resize them (squash, no crop) first."
        )
    dtype = keras.backend.standardize_dtype(images.dtype)
    if "float" not in dtype:
        raise ValueError(
            "`images` must be floats scaled to [-1, 1]; got dtype "
            f"{dtype}. Convert uint8 pixels with `pixels / 127.5 - 1`."
        )


def check_token_ids(token_ids, sequence_length, vocabulary_size):
    """`token_ids` must be `(batch, sequence_length)` integers in the vocabulary."""
    shape = tuple(token_ids.shape)
    length = sequence_length
    if len(shape) != 2:
        raise ValueError(
            f"`token_ids` must have shape (batch, {length}); got rank "
            f"{len(shape)} with shape {shape}."
        )
    if shape[1] != length:
        raise ValueError(
            f"`token_ids` must be padded to the text tower's fixed length {length} "
            f"with the EOS/pad id; got length {shape[1]}. The text tower pools the "
            "last position, so padding to another length silently ruins accuracy."
        )
    dtype = keras.backend.standardize_dtype(token_ids.dtype)
    if "int" not in dtype:
        raise ValueError(f"`token_ids` must be integers; got dtype {dtype}.")
    values = concrete_values(token_ids)
    if values is not None and values.size:
        low, high = int(np.min(values)), int(np.max(values))
        if low < 0 or high >= vocabulary_size:
            raise ValueError(
                f"`token_ids` must lie in [0, {vocabulary_size}) for this "
                f"vocabulary; got values from {low} to {high}."
            )

