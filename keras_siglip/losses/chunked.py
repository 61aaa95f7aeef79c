"""The sigmoid loss one block of pairs at a time, never holding the `B x B` logits.

The per-pair maths lives here, once: `pair_labels`, `pair_losses` and
`pair_logit_gradients`. The dense `sigmoid_loss` applies them to the whole logits
matrix as a single block; `chunked_sigmoid_loss` applies them to
`chunk_size x chunk_size` tiles of it.

For each tile of `chunk_size` images by `chunk_size` texts the chunked loss forms
the tile's logits, adds its pairs' losses, and, when a gradient will be needed,
turns them into the closed-form gradient of REFERENCE.md,

    g_ij = -(1 / B) * z_ij * sigmoid(-z_ij * logit_ij)
    dL/dx = exp(t) * g @ y,   dL/dy = exp(t) * g.T @ x,   dL/db = sum(g),

accumulated tile by tile, and `dL/dt = exp(t) * sum_ij g_ij <x_i, y_j>`, which is
`exp(t) * sum_i <x_i, (g @ y)_i>`, from `dL/dx` once at the end. The gradient is
computed in the same sweep as the value (the loss is a scalar, so its backward pass
only scales that gradient by the upstream value; see `custom_gradient.py`): three
matrix products per tile, the `6 * B^2 * D` flops of dense autodiff, where a
backward pass that recomputed the tiles would need `8 * B^2 * D`. Without a
gradient only the first product runs.

Memory beyond the inputs: the padded embeddings and their gradients, `O(B * D)`,
plus a few tiles, `O(chunk_size^2)`. Batch sizes that `chunk_size` does not divide
are padded to a whole number of tiles and the padding is masked out. Everything is
computed in float32; gradients reach bfloat16 or float16 embeddings through the
cast, in their own dtype.
"""

import functools
import numbers

from keras import ops

from keras_siglip.losses.custom_gradient import accumulate_rows, scalar_with_gradient
from keras_siglip.losses.logits import check_batches, pairwise_logits, static_batch_size

# 2048 x 2048 tiles. A tile's three products (2048 x 768 by 768 x 2048 at D = 768,
# 19 GFLOP together) are large enough for a CPU's matmul to run near its peak and
# make the loop and the elementwise work around them small; the tile's float32
# logits and gradient take 16 MiB each. On a 2-core AMD EPYC (JAX,
# benchmarks/loss.py, alternating processes) 2048 beat 1024 in each of three rounds
# at B = 8,192 (2.14-2.44 s against 2.25-2.61 s) and tied at B = 16,384; 512 was
# slower than both. Accelerators may prefer larger tiles.
DEFAULT_CHUNK_SIZE = 2048


def pair_labels(num_rows, num_columns, diagonal_offset):
    """`+1` where `column - row == diagonal_offset` (the positives), `-1` elsewhere.

    A block without positives (`diagonal_offset=None`, or a diagonal known to
    miss the block) gets the scalar `-1.0`, which broadcasts.
    """
    if diagonal_offset is None or (
        _is_static(num_rows, num_columns, diagonal_offset)
        and not -num_rows < diagonal_offset < num_columns
    ):
        return -1.0
    rows = ops.expand_dims(ops.arange(num_rows, dtype="int32"), 1)
    columns = ops.expand_dims(ops.arange(num_columns, dtype="int32"), 0)
    return ops.where(columns - rows == diagonal_offset, 1.0, -1.0)


def pair_losses(logits, labels):
    """`-log sigmoid(labels * logits)` for each pair, finite for any finite logit."""
    return ops.softplus(_margins(logits, labels))


def pair_logit_gradients(logits, labels):
    """The derivative of `pair_losses` with respect to the logits."""
    gradients = ops.sigmoid(_margins(logits, labels))
    return gradients if _all_negatives(labels) else -labels * gradients


def _margins(logits, labels):
    # `-labels * logits`; a block of negatives needs no multiplication (an eager
    # backend would spend a pass over the block on it).
    return logits if _all_negatives(labels) else -labels * logits


def _all_negatives(labels):
    return isinstance(labels, float) and labels == -1.0


def block_loss_sum(logits, diagonal_offset=0):
    """Sum of the pairs' losses of a logits block whose positives lie on a diagonal.

    Args:
        logits: `(num_rows, num_columns)` float tensor.
        diagonal_offset: the positives are the pairs with
            `column - row == diagonal_offset`; `None` for a block of negatives.

    Returns:
        Scalar float32: the loss of the block, not yet divided by the batch size.
    """
    logits = ops.cast(logits, "float32")
    num_rows, num_columns = ops.shape(logits)
    labels = pair_labels(num_rows, num_columns, diagonal_offset)
    return ops.sum(pair_losses(logits, labels))


def check_chunk_size(chunk_size, allow_none=True):
    """`chunk_size` as an `int` (or `None` where allowed); anything else raises."""
    if chunk_size is None and allow_none:
        return None
    if (
        isinstance(chunk_size, numbers.Integral)
        and not isinstance(chunk_size, bool)
        and chunk_size >= 1
    ):
        return int(chunk_size)
    expected = "None (the dense loss) or " if allow_none else ""
    raise ValueError(
        f"`chunk_size` must be {expected}a positive integer, the number of images "
        f"and of texts per block; got {chunk_size!r}."
    )


def chunked_sigmoid_loss(
    image_embeddings, text_embeddings, log_temperature, bias, chunk_size, positives=True
):
    """The sigmoid loss computed in `chunk_size x chunk_size` tiles of pairs.

    Same value and gradients as the dense `sigmoid_loss` (to float32 round-off),
    without ever holding the `num_images x num_texts` logits, in the forward or the
    backward pass. Usually called as `sigmoid_loss(..., chunk_size=...)`.

    Args:
        image_embeddings: `(num_images, dim)` float tensor.
        text_embeddings: `(num_texts, dim)` float tensor; text `i` is the
            positive of image `i`.
        log_temperature: scalar.
        bias: scalar.
        chunk_size: images and texts per tile, a positive integer; it need not
            divide the batch size.
        positives: if `False`, every pair is a negative.

    Returns:
        Scalar float32 loss, differentiable (once) in all four arguments.

    Example:

    >>> import numpy as np
    >>> x = np.eye(5, 8, dtype="float32")
    >>> chunked = chunked_sigmoid_loss(x, x, np.log(10.0), -10.0, chunk_size=2)
    >>> round(float(chunked), 4)
    0.6933
    """
    chunk_size = check_chunk_size(chunk_size, allow_none=False)
    check_batches(
        static_batch_size(image_embeddings), static_batch_size(text_embeddings), paired=positives
    )
    function = _loss_function(chunk_size, bool(positives))
    return function(
        ops.cast(image_embeddings, "float32"),
        ops.cast(text_embeddings, "float32"),
        ops.cast(log_temperature, "float32"),
        ops.cast(bias, "float32"),
    )


@functools.cache
def _loss_function(chunk_size, positives):
    # One function per configuration, so that the backends' tracing caches
    # (jax.custom_vjp, tf.function) are reused from call to call.
    def value(*tensors):
        return sweep(*tensors, chunk_size, positives, with_gradients=False)

    def value_and_gradients(*tensors):
        return sweep(*tensors, chunk_size, positives, with_gradients=True)

    return scalar_with_gradient(value, value_and_gradients)


def sweep(images, texts, log_temperature, bias, chunk_size, positives, with_gradients):
    """Loss (and, if asked, its four gradients) accumulated over all tiles.

    Normalised by `num_images`; `ring.py` sweeps each device's blocks with it.
    """
    num_images, dim = ops.shape(images)
    num_texts = ops.shape(texts)[0]
    row_tile = _minimum(chunk_size, num_images)
    column_tile = _minimum(chunk_size, num_texts)
    num_row_tiles = _ceil_divide(num_images, row_tile)
    num_column_tiles = _ceil_divide(num_texts, column_tile)
    padded = not (_divides(row_tile, num_images) and _divides(column_tile, num_texts))
    images = _pad_rows(images, num_row_tiles * row_tile - num_images)
    texts = _pad_rows(texts, num_column_tiles * column_tile - num_texts)
    row_zeros = ops.zeros((row_tile,), dtype="float32")

    def valid_pairs(row_start, column_start):
        """Which pairs of a tile are not padding; `None` if known to be all."""
        if not padded or (
            _is_static(row_start, column_start)
            and row_start + row_tile <= num_images
            and column_start + column_tile <= num_texts
        ):
            return None
        rows = ops.arange(row_tile, dtype="int32") + row_start < num_images
        columns = ops.arange(column_tile, dtype="int32") + column_start < num_texts
        return ops.logical_and(ops.expand_dims(rows, 1), ops.expand_dims(columns, 0))

    # Sums over a tile are kept per row and added up once per row of tiles: a
    # float32 sum of a whole tile at once loses up to 1e-4 of its value on some
    # backends, a sum of one row does not.
    def row_step(row, totals):
        row_start = row * row_tile
        image_tile = ops.slice(images, (row_start, 0), (row_tile, dim))

        def column_step(column, sums):
            column_start = column * column_tile
            text_tile = ops.slice(texts, (column_start, 0), (column_tile, dim))
            logits = pairwise_logits(image_tile, text_tile, log_temperature, bias)
            offset = row_start - column_start if positives else None
            labels = pair_labels(row_tile, column_tile, offset)
            valid = valid_pairs(row_start, column_start)
            losses = pair_losses(logits, labels)
            if valid is not None:
                losses = ops.where(valid, losses, 0.0)
            if not with_gradients:
                return (sums[0] + ops.sum(losses, axis=1),)
            row_losses, image_rows, text_gradients, row_bias = sums
            logit_gradients = pair_logit_gradients(logits, labels)
            if valid is not None:
                logit_gradients = ops.where(valid, logit_gradients, 0.0)
            text_rows = ops.matmul(ops.transpose(logit_gradients), image_tile)
            return (
                row_losses + ops.sum(losses, axis=1),
                image_rows + ops.matmul(logit_gradients, text_tile),
                accumulate_rows(text_gradients, column_start, text_rows),
                row_bias + ops.sum(logit_gradients, axis=1),
            )

        if not with_gradients:
            (row_losses,) = ops.fori_loop(0, num_column_tiles, column_step, (row_zeros,))
            return (totals[0] + ops.sum(row_losses),)
        loss_total, image_gradients, text_gradients, bias_total = totals
        image_rows = ops.zeros((row_tile, dim), dtype="float32")
        row_losses, image_rows, text_gradients, row_bias = ops.fori_loop(
            0,
            num_column_tiles,
            column_step,
            (row_zeros, image_rows, text_gradients, row_zeros),
        )
        return (
            loss_total + ops.sum(row_losses),
            accumulate_rows(image_gradients, row_start, image_rows),
            text_gradients,
            bias_total + ops.sum(row_bias),
        )

    zero = ops.zeros((), dtype="float32")
    scale = 1.0 / ops.cast(num_images, "float32")
    if not with_gradients:
        (loss_total,) = ops.fori_loop(0, num_row_tiles, row_step, (zero,))
        return loss_total * scale
    totals = (zero, ops.zeros_like(images), ops.zeros_like(texts), zero)
    loss_total, image_gradients, text_gradients, bias_total = ops.fori_loop(
        0, num_row_tiles, row_step, totals
    )
    # sum_ij g_ij <x_i, y_j> = sum_i <x_i, (g @ y)_i>: the temperature's gradient
    # from the image gradient, without a per-tile pass.
    similarity_total = ops.sum(ops.sum(image_gradients * images, axis=1))
    temperature = ops.exp(log_temperature)
    return loss_total * scale, (
        image_gradients[:num_images] * (temperature * scale),
        text_gradients[:num_texts] * (temperature * scale),
        similarity_total * (temperature * scale),
        bias_total * scale,
    )


# Batch sizes are Python ints on JAX and PyTorch, and on TensorFlow too unless a
# traced batch dimension is unknown: then they are tensors, and so is everything
# computed from them below.


def _is_static(*values):
    return all(isinstance(value, int) for value in values)


def _minimum(a, b):
    return min(a, b) if _is_static(a, b) else ops.minimum(a, b)


def _ceil_divide(a, b):
    return -(-a // b) if _is_static(a, b) else (a + b - 1) // b


def _divides(divisor, value):
    return _is_static(divisor, value) and value % divisor == 0


def _pad_rows(embeddings, num_rows):
    if _is_static(num_rows) and num_rows == 0:
        return embeddings
    return ops.pad(embeddings, [[0, num_rows], [0, 0]])
