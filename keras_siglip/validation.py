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
