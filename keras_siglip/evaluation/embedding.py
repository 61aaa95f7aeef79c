"""Embedding a held-out set with one of the model's towers, a batch at a time."""

import numpy as np
from keras import ops

from keras_siglip.validation import check_positive_int


def embed_in_batches(encode, inputs, batch_size):
    """`encode` applied to `inputs` in batches, stacked into one NumPy array.

    Args:
        encode: a tower's encoding function, such as `model.encode_images`.
        inputs: array whose first axis is the examples (at least one).
        batch_size: examples per call of `encode`.

    Returns:
        `(num_examples, dim)` float32 array.

    Example:

    >>> embed_in_batches(lambda x: 2 * x, np.ones((5, 3), "float32"), 2).shape
    (5, 3)
    """
    check_positive_int("batch_size", batch_size)
    inputs = np.asarray(inputs)
    num_examples = len(inputs)
    if not num_examples:
        raise ValueError("`inputs` must hold at least one example; got none.")
    batch_size = min(batch_size, num_examples)
    # A short last batch is padded (with copies of the last example) to the shape of
    # the others: on JAX, each new shape compiles every operation of the tower again.
    padding = -num_examples % batch_size
    if padding:
        inputs = np.concatenate([inputs, np.repeat(inputs[-1:], padding, axis=0)])
    parts = [
        ops.convert_to_numpy(encode(inputs[start : start + batch_size]))
        for start in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(parts)[:num_examples].astype("float32")
