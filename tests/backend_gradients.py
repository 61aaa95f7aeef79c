"""Gradients of a scalar function of NumPy arrays, on whichever backend is active.

Tests need autodiff to check the losses' gradients against closed-form NumPy maths;
this is the one backend-specific helper the tests share.
"""

import keras
import numpy as np


def value_and_gradients(function, *arrays):
    """`(value, [d value / d array for array in arrays])` as NumPy float64 arrays."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        value, grads = jax.value_and_grad(function, argnums=tuple(range(len(arrays))))(
            *[jax.numpy.asarray(a) for a in arrays]
        )
    elif backend == "tensorflow":
        import tensorflow as tf

        variables = [tf.Variable(a) for a in arrays]
        with tf.GradientTape() as tape:
            value = function(*variables)
        grads = tape.gradient(value, variables)
    elif backend == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        value = function(*tensors)
        grads = torch.autograd.grad(value, tensors)
        value = value.detach()
    else:
        raise NotImplementedError(backend)
    as_numpy = lambda x: np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)  # noqa: E731
    return as_numpy(value), [as_numpy(g) for g in grads]


def variable_gradients(function, variables):
    """`(value, [d value / d variable for variable in variables])` of `function()`.

    `function` takes no arguments and computes a scalar from Keras `variables` (a
    model's weights); one forward and one backward pass of the backend's autodiff.
    Returns NumPy float64 arrays.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def of_values(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return function()

        value, grads = jax.value_and_grad(of_values)([v.value for v in variables])
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = function()
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(value, variables)]
    elif backend == "torch":
        import torch

        value = function()
        grads = torch.autograd.grad(value, [v.value for v in variables])
        value = value.detach()
    else:
        raise NotImplementedError(backend)
    as_numpy = lambda x: np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)  # noqa: E731
    return as_numpy(value), [as_numpy(g) for g in grads]
