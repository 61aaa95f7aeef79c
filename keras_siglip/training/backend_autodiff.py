"""The one backend-specific part of gradient caching: running a tower with and
without autodiff, its random state, and differentiating the loss.

`gradient_cache.py` writes the algorithm once with `keras.ops`. Four things about
it cannot be said through `keras.ops`, and this module says them for each backend
(one function per backend and purpose, chosen by the public function above them):

- `encode_function`: a tower's L2-normalised embeddings with no autodiff record
  (PyTorch would otherwise keep every activation of the pass for a backward pass
  that never comes). Compiled with `jax.jit` on JAX.
- `encode_vjp_function`: the vector-Jacobian product of those embeddings with
  respect to the tower's trainable variables, for a given cotangent of the
  embeddings: the gradient of `sum(embeddings * cotangent)`, the L2 normalisation
  included. Compiled with `jax.jit` on JAX.
- `save_random_state`: what a tower's dropout draws from, to be put back so that a
  second pass draws the same masks: the tower's non-trainable state (Keras seed
  generators) and, on PyTorch, the global generator that Keras' unseeded dropout
  draws from there.
- `value_and_gradients_function`: a scalar function of tensors with its gradient
  with respect to every one of them. Through the chunked sigmoid loss this runs
  its closed-form backward (`losses/custom_gradient.py`) in one sweep of tiles.
  Compiled with `jax.jit` on JAX.

Both tower functions read the tower's variables when called, and advance its
non-trainable state (dropout seeds) as a Keras call does; on JAX, where a compiled
function cannot assign, they assign the state the tower's `stateless_call` returns.
"""

import keras
from keras import ops

from keras_siglip.losses.logits import l2_normalize


def encode_function(tower, training):
    """`encode(inputs) -> (batch, dim)` float32 L2-normalised embeddings, no gradient."""
    return _dispatch(_jax_encode, _tensorflow_encode, _torch_encode)(tower, training)


def encode_vjp_function(tower, training):
    """`vjp(inputs, cotangent) -> [gradient per tower.trainable_variables]`.

    The gradients are of `sum(l2_normalize(tower(inputs)) * cotangent)`, dense
    tensors of the variables' shapes.
    """
    return _dispatch(_jax_encode_vjp, _tensorflow_encode_vjp, _torch_encode_vjp)(tower, training)


def value_and_gradients_function(function):
    """`f(*tensors) -> (function(*tensors), [d function / d tensor, ...])`."""
    return _dispatch(
        _jax_value_and_gradients, _tensorflow_value_and_gradients, _torch_value_and_gradients
    )(function)


def save_random_state(tower):
    """A function that puts the tower's random state back to what it is now."""
    variables = tower.non_trainable_variables
    values = [ops.copy(variable.value) for variable in variables]
    restore_backend = _dispatch(_no_global_state, _no_global_state, _torch_global_state)()

    def restore():
        for variable, value in zip(variables, values):
            variable.assign(value)
        restore_backend()

    return restore


def _dispatch(jax_version, tensorflow_version, torch_version):
    backend = keras.backend.backend()
    versions = {"jax": jax_version, "tensorflow": tensorflow_version, "torch": torch_version}
    if backend not in versions:
        raise NotImplementedError(
            f"Gradient caching supports the jax, tensorflow and torch backends; got {backend!r}."
        )
    return versions[backend]


def _normalized_embeddings(tower, inputs, training):
    return l2_normalize(tower(inputs, training=training))


def _inner_product(embeddings, cotangent):
    return ops.sum(embeddings * ops.cast(cotangent, "float32"))


def _no_global_state():
    return lambda: None


# --- JAX -----------------------------------------------------------------------


def _jax_stateless_embeddings(tower, training):
    def embeddings(trainable, non_trainable, inputs):
        outputs, non_trainable = tower.stateless_call(
            trainable, non_trainable, inputs, training=training
        )
        return l2_normalize(outputs), non_trainable

    return embeddings


def _jax_assign(variables, values):
    for variable, value in zip(variables, values):
        variable.assign(value)


def _jax_encode(tower, training):
    import jax

    compiled = jax.jit(_jax_stateless_embeddings(tower, training))

    def encode(inputs):
        embeddings, non_trainable = compiled(
            [variable.value for variable in tower.trainable_variables],
            [variable.value for variable in tower.non_trainable_variables],
            inputs,
        )
        _jax_assign(tower.non_trainable_variables, non_trainable)
        return embeddings

    return encode


def _jax_encode_vjp(tower, training):
    import jax

    embeddings = _jax_stateless_embeddings(tower, training)

    def inner_product(trainable, non_trainable, inputs, cotangent):
        outputs, non_trainable = embeddings(trainable, non_trainable, inputs)
        return _inner_product(outputs, cotangent), non_trainable

    compiled = jax.jit(jax.grad(inner_product, has_aux=True))

    def vjp(inputs, cotangent):
        gradients, non_trainable = compiled(
            [variable.value for variable in tower.trainable_variables],
            [variable.value for variable in tower.non_trainable_variables],
            inputs,
            cotangent,
        )
        _jax_assign(tower.non_trainable_variables, non_trainable)
        return gradients

    return vjp


def _jax_value_and_gradients(function):
    import jax

    def value_and_gradients(*tensors):
        gradient = jax.value_and_grad(function, argnums=tuple(range(len(tensors))))
        return gradient(*tensors)

    return jax.jit(value_and_gradients)


# --- TensorFlow ----------------------------------------------------------------


def _tensorflow_encode(tower, training):
    def encode(inputs):
        return _normalized_embeddings(tower, inputs, training)

    return encode


def _tensorflow_encode_vjp(tower, training):
    import tensorflow as tf

    def vjp(inputs, cotangent):
        with tf.GradientTape() as tape:
            outputs = _normalized_embeddings(tower, inputs, training)
            inner_product = _inner_product(outputs, cotangent)
        gradients = tape.gradient(inner_product, tower.trainable_variables)
        # The token embedding's gradient comes as IndexedSlices, which do not add up
        # across micro-batches.
        return [tf.convert_to_tensor(gradient) for gradient in gradients]

    return vjp


def _tensorflow_value_and_gradients(function):
    import tensorflow as tf

    def value_and_gradients(*tensors):
        tensors = [tf.convert_to_tensor(tensor) for tensor in tensors]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = function(*tensors)
        return value, tape.gradient(value, tensors)

    return value_and_gradients


# --- PyTorch -------------------------------------------------------------------


def _torch_encode(tower, training):
    import torch

    def encode(inputs):
        with torch.no_grad():
            return _normalized_embeddings(tower, inputs, training)

    return encode


def _torch_encode_vjp(tower, training):
    import torch

    def vjp(inputs, cotangent):
        outputs = _normalized_embeddings(tower, inputs, training)
        inner_product = _inner_product(outputs, cotangent)
        return list(
            torch.autograd.grad(
                inner_product, [variable.value for variable in tower.trainable_variables]
            )
        )

    return vjp


def _torch_global_state():
    import torch

    state = torch.get_rng_state()
    accelerator_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None

    def restore():
        torch.set_rng_state(state)
        if accelerator_states is not None:
            torch.cuda.set_rng_state_all(accelerator_states)

    return restore


def _torch_value_and_gradients(function):
    import torch

    def value_and_gradients(*tensors):
        tensors = [
            ops.convert_to_tensor(tensor).detach().requires_grad_(True) for tensor in tensors
        ]
        value = function(*tensors)
        gradients = torch.autograd.grad(value, tensors)
        return value.detach(), list(gradients)

    return value_and_gradients
