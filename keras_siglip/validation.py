"""Argument and input checks whose errors name the argument, the expected and the given.

Shapes and dtypes are checked wherever a tensor arrives, traced or not. Values (token
ids in the vocabulary) can only be checked on concrete arrays: `check_token_ids` checks
them when it is given concrete ones, and `check_batches_before_steps` checks every batch
`fit`, `evaluate` and `predict` hand to a compiled step, on the host, before the step
runs (a compiled step cannot raise: JAX's `jit` and TensorFlow's XLA have no run-time
errors, and an out-of-range id silently becomes NaN on JAX and is clamped by XLA).
"""

import itertools

import keras
import numpy as np

# Names of SigLIP's towers in `locked_towers` and `compile(towers_without_decay=...)`.
TOWERS = ("image", "text")


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
        if isinstance(tensor, jax.Array) and not tensor.is_fully_addressable:
            # A batch spread over several hosts: each checks the part it holds.
            return np.concatenate(
                [np.asarray(shard.data).ravel() for shard in tensor.addressable_shards]
            )
        return np.asarray(tensor)
    if backend == "tensorflow":
        import tensorflow as tf

        if isinstance(tensor, tf.distribute.DistributedValues):
            # One part per replica under a `tf.distribute` strategy.
            parts = [concrete_values(part) for part in tensor.values]
            return (
                None
                if any(part is None for part in parts)
                else np.concatenate([part.ravel() for part in parts])
            )
        if not tf.executing_eagerly() or tf.is_symbolic_tensor(tensor):
            return None
        return tensor.numpy()
    if backend == "torch":
        return tensor.detach().cpu().numpy()
    return keras.ops.convert_to_numpy(tensor)


def _static_shape(tensor):
    """`tensor.shape` as a tuple, or `None` where even its rank is unknown while tracing
    (TensorFlow relaxes shapes so when it retraces a step)."""
    try:
        return tuple(tensor.shape)
    except ValueError:
        return None


def check_images(images, image_size):
    """`images` must be a float batch of `image_size` squares with 3 channels last."""
    _check_has_shape("images", images)
    shape = _static_shape(images)
    size = image_size
    expected = f"(batch, {size}, {size}, 3)"
    if shape is None:
        pass
    elif len(shape) != 4:
        raise ValueError(
            f"`images` must have shape {expected} (channels last); got rank "
            f"{len(shape)} with shape {shape}."
        )
    elif shape[-1] != 3:
        raise ValueError(
            f"`images` must have 3 channels last, shape {expected}; got shape "
            f"{shape}. Convert grey or RGBA images to RGB first."
        )
    elif shape[1:3] != (size, size):
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
    _check_has_shape("token_ids", token_ids)
    shape = _static_shape(token_ids)
    length = sequence_length
    if shape is None:
        pass
    elif len(shape) != 2:
        raise ValueError(
            f"`token_ids` must have shape (batch, {length}); got rank "
            f"{len(shape)} with shape {shape}."
        )
    elif shape[1] != length:
        raise ValueError(
            f"`token_ids` must be padded to the text tower's fixed length {length} "
            f"with the EOS/pad id; got length {shape[1]}. The text tower pools the "
            "last position, so padding to another length silently ruins accuracy."
        )
    dtype = keras.backend.standardize_dtype(token_ids.dtype)
    if "int" not in dtype:
        raise ValueError(f"`token_ids` must be integers; got dtype {dtype}.")
    check_token_id_values(token_ids, vocabulary_size)


def _check_has_shape(name, tensor):
    if not hasattr(tensor, "shape") or not hasattr(tensor, "dtype"):
        raise ValueError(
            f"`{name}` must be an array or tensor (NumPy or the backend's); got "
            f"{type(tensor).__name__}."
        )


def check_token_id_values(token_ids, vocabulary_size):
    """Token ids must lie in `[0, vocabulary_size)`; checked where they are concrete."""
    values = concrete_values(token_ids)
    if values is not None and values.size:
        low, high = int(np.min(values)), int(np.max(values))
        if low < 0 or high >= vocabulary_size:
            raise ValueError(
                f"`token_ids` must lie in [0, {vocabulary_size}) "
                f"(vocabulary size {vocabulary_size}); got values from {low} to {high}."
            )


def check_paired_inputs(inputs, method):
    """In-memory `fit`, `evaluate` or `predict` inputs need one text per image.

    Keras slices both arrays into the same batches; unequal lengths would otherwise
    fail deep inside its data adapter. (`SigLIP.call` itself takes any number of
    images against any number of texts.)
    """
    if not isinstance(inputs, dict) or not {"images", "token_ids"} <= set(inputs):
        return
    images, token_ids = inputs["images"], inputs["token_ids"]
    if not (hasattr(images, "shape") and hasattr(token_ids, "shape")):
        return
    if len(images.shape) and len(token_ids.shape) and images.shape[0] != token_ids.shape[0]:
        raise ValueError(
            f"`{method}` needs one text per image: `images` (shape {tuple(images.shape)}) "
            f"and `token_ids` (shape {tuple(token_ids.shape)}) must have the same first "
            f"dimension; got {images.shape[0]} images and {token_ids.shape[0]} texts."
        )


def check_batches_before_steps(step_function, check_batch, steps_per_execution, restore=None):
    """`step_function`, a step function Keras built, checking each batch before it runs.

    Keras' `fit`, `evaluate` and `predict` hand their batches to the function that
    `make_train_function` (and the test and predict ones) build: on JAX
    `function(state, iterator)`, on TensorFlow `function(iterator)` for training and
    evaluation and `function(batches)` for prediction, on PyTorch
    `function(batches)`. The returned function takes the same arguments, draws the
    `steps_per_execution` batches of one call from them, passes each to
    `check_batch` (on the host, where it is concrete), and only then runs
    `step_function` on them. A refused batch therefore never reaches a compiled
    step: the weights stay as they were. This is the one place that knows how each
    backend's trainer passes batches.

    On TensorFlow the batches of a training or evaluation call are then handed on as
    a Python list, which Keras' function runs with its compiled one-batch step (the
    loop over `steps_per_execution` batches runs in Python rather than in a
    `tf.while_loop`). On JAX, Keras has already detached the model's variables from
    their values when the function is called; `restore(state)` puts them back when a
    batch is refused or the step fails before it runs (an error while tracing it), so
    that the model stays usable.

    Args:
        step_function: the function Keras built.
        check_batch: called with each batch (Keras' `(x, y, sample_weight)` tuple);
            raises to refuse it.
        steps_per_execution: batches per call.
        restore: JAX only; called with the `state` argument before an error is
            raised, when the step has not consumed it.

    Returns:
        The checking function; its `checks_batches` attribute is `True`.
    """

    def take(batches):
        if isinstance(batches, (list, tuple)):
            return list(batches)
        taken = list(itertools.islice(batches, steps_per_execution))
        if not taken:
            raise StopIteration
        return taken

    if keras.backend.backend() == "jax":

        def checked(state, batches):
            batches = take(batches)
            try:
                for batch in batches:
                    check_batch(batch)
                return step_function(state, iter(batches))
            except Exception:
                # A refused batch, or an error while tracing the step (a wrong
                # shape): `state` was not consumed, so the model can get it back.
                if restore is not None and not any(
                    value.is_deleted() for value in keras.tree.flatten(state)
                ):
                    restore(state)
                raise

    else:

        def checked(batches):
            batches = take(batches)
            for batch in batches:
                check_batch(batch)
            return step_function(batches)

    checked.checks_batches = True
    return checked


def check_tower_names(argument, towers):
    """`towers` as a tuple in `TOWERS` order, after checking the names."""
    if isinstance(towers, str) or not isinstance(towers, (tuple, list)):
        raise ValueError(
            f"`{argument}` must be a tuple of tower names from {TOWERS}, e.g. "
            f"('image',); got {towers!r}."
        )
    unknown = [name for name in towers if name not in TOWERS]
    if unknown:
        raise ValueError(f"`{argument}` names unknown towers {unknown}; the towers are {TOWERS}.")
    return tuple(name for name in TOWERS if name in towers)
