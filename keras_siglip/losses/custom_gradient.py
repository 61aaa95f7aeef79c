"""The one backend-specific part of the chunked sigmoid loss: its custom gradient.

`chunked.py` writes the blockwise maths once with `keras.ops`. Two things about it
cannot be said through `keras.ops`, and this module says them for each backend:

- `scalar_with_gradient`: a scalar function whose gradient is computed by the
  function itself, in the same sweep over the blocks as its value. A scalar's
  vector-Jacobian product is the upstream scalar times its gradient, so nothing but
  the gradient (`O(B * D)`) is kept for the backward pass, and autodiff never sees
  (and never stores) the blocks.
- `accumulate_rows`: adding a block of rows into a larger buffer in place.

`keras.ops.custom_gradient` does not serve: it cannot tell whether a gradient will
be asked for, so a loss evaluated without one would pay for the gradient products
too; on PyTorch it saves the inputs rather than the gradient, and it replaces any
error raised in the forward pass by a NaN gradient. `keras.ops.slice_update` copies
the whole buffer on PyTorch, which would make every block cost `O(B * D)`.

How each backend learns that a gradient will be needed:

- JAX: `jax.custom_vjp`, whose forward rule runs only under differentiation.
- TensorFlow: whether a `tf.GradientTape` watches the inputs (TensorFlow's own
  test, `should_record_backprop`). Without a tape, a gradient requested later
  (`tf.gradients`) is computed then, in a second sweep. Both sweeps are compiled with
  XLA (`jit_compile=True`), which updates the gradient buffers in place.
- PyTorch: `torch.autograd.Function`, whose `needs_input_grad` says which inputs
  need a gradient.
"""

import keras
from keras import ops


def scalar_with_gradient(value_function, value_and_gradients_function):
    """A function of tensors with the value and gradient of the functions given.

    Args:
        value_function: `f(*tensors) -> scalar`.
        value_and_gradients_function: `f(*tensors) -> (scalar, gradients)`, with
            one gradient per tensor, each of that tensor's shape and dtype.

    Returns:
        `g(*tensors)` returning `value_function(*tensors)`, differentiable: its
        vector-Jacobian product is `upstream * gradients`. Second derivatives are
        not defined.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_scalar_with_gradient(value_function, value_and_gradients_function)
    if backend == "tensorflow":
        return _tensorflow_scalar_with_gradient(value_function, value_and_gradients_function)
    if backend == "torch":
        return _torch_scalar_with_gradient(value_function, value_and_gradients_function)
    raise NotImplementedError(
        "The chunked sigmoid loss supports the jax, tensorflow and torch backends; "
        f"got {backend!r}."
    )


def accumulate_rows(buffer, start, rows):
    """`buffer[start:start + len(rows)] += rows`, returning the updated buffer.

    In place on PyTorch (the caller owns `buffer`); a dynamic update slice on JAX
    and TensorFlow, which XLA performs in place inside a loop.
    """
    if keras.backend.backend() == "torch":
        buffer[start : start + rows.shape[0]] += rows
        return buffer
    current = ops.slice(buffer, (start, 0), ops.shape(rows))
    return ops.slice_update(buffer, (start, 0), current + rows)


def _scaled(upstream, gradients):
    return tuple(upstream * gradient for gradient in gradients)


def _jax_scalar_with_gradient(value_function, value_and_gradients_function):
    import jax

    @jax.custom_vjp
    def function(*tensors):
        return value_function(*tensors)

    def forward(*tensors):
        return value_and_gradients_function(*tensors)

    def backward(gradients, upstream):
        return _scaled(upstream, gradients)

    function.defvjp(forward, backward)
    return function


def _tensorflow_scalar_with_gradient(value_function, value_and_gradients_function):
    import tensorflow as tf
    from tensorflow.python.eager import record

    compiled_value = tf.function(value_function, jit_compile=True, reduce_retracing=True)
    compiled_value_and_gradients = tf.function(
        value_and_gradients_function, jit_compile=True, reduce_retracing=True
    )

    # The sweeps are never differentiated themselves (the gradient is one of their
    # outputs): stop_gradient keeps TensorFlow from building a gradient of the loop.
    def value(tensors):
        return compiled_value(*[tf.stop_gradient(tensor) for tensor in tensors])

    def value_and_gradients(tensors):
        return compiled_value_and_gradients(*[tf.stop_gradient(tensor) for tensor in tensors])

    @tf.custom_gradient
    def with_gradient(*tensors):
        result, gradients = value_and_gradients(tensors)
        return result, lambda upstream: _scaled(upstream, gradients)

    @tf.custom_gradient
    def with_gradient_on_request(*tensors):
        def backward(upstream):
            return _scaled(upstream, value_and_gradients(tensors)[1])

        return value(tensors), backward

    def function(*tensors):
        # Variables become tensors here: tf.custom_gradient would otherwise want a
        # gradient for each variable read inside it.
        tensors = [tf.convert_to_tensor(tensor) for tensor in tensors]
        if record.should_record_backprop(tensors):
            return with_gradient(*tensors)
        return with_gradient_on_request(*tensors)

    return function


def _torch_scalar_with_gradient(value_function, value_and_gradients_function):
    import torch

    class ScalarWithGradient(torch.autograd.Function):
        @staticmethod
        def forward(context, *tensors):
            if any(context.needs_input_grad):
                value, gradients = value_and_gradients_function(*tensors)
                context.save_for_backward(*gradients)
                return value
            return value_function(*tensors)

        @staticmethod
        def backward(context, upstream):
            return _scaled(upstream, context.saved_tensors)

    return ScalarWithGradient.apply
