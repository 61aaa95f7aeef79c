"""The antialiased bicubic resize of `tf.image.resize`, as blocked matrix products.

`tf.image.resize(images, size, method="bicubic", antialias=True)` (TensorFlow's
`ScaleAndTranslate` op, what keras-hub's converted presets use) is the resize every
SigLIP input goes through here. Each output pixel is a weighted sum of a few input
pixels along each axis (Keys' cubic kernel, stretched by the downscale factor when
shrinking), so the resize is two sparse, banded linear maps. `ScaleAndTranslate`
applies them pixel by pixel; on two CPU cores it took about 1.6 ms of a 256 -> 224 px
image inside a `tf.data` pipeline, more than decoding the JPEG (0.5 ms), and it capped
the corpus pipelines near 600 pairs/s.

This module computes the same weights (the same formula, in float32) and applies them
as matrix products: the outputs of an axis are grouped in blocks of `BLOCK`
consecutive pixels, every block reads one window of consecutive input rows, and a
block's outputs are a small dense `(BLOCK, window)` matrix times that window. One
`gather` cuts all the windows, one batched `matmul` applies all the blocks; the
second axis is the first one after a transpose. For a shrink the windows overlap by
the kernel's width, so the gathered copy is about 1.5 times the input; the work is
a few multiply-adds per output value. It agrees with `tf.image.resize` to float32
rounding (at most a few 1e-7 on values in [0, 1]; `tests/test_preprocessing_resize.py`)
for any input and output size, up or down, and runs in graph mode on shapes only
known at run time.
"""

import tensorflow as tf

# Output pixels per block. A window holds `BLOCK * scale + 4 * kernel_scale` input
# pixels: larger blocks copy less overlap and do more multiply-adds.
BLOCK = 8
_KERNEL_RADIUS = 2.0  # Keys' cubic kernel is zero beyond 2.
_FLOAT_MIN = 1.17549435e-38  # the smallest normal float32


def resize_bicubic_antialiased(images, size, value_scale=None):
    """`tf.image.resize(images, size, method="bicubic", antialias=True)`, faster.

    Args:
        images: float32 `(N, H, W, C)` tensor (or array), `H` and `W` at least 1;
            shapes may be unknown until run time (inside `tf.data`).
        size: `(height, width)` of the output, positive.
        value_scale: optional factor on the result (e.g. `2 / 255` from pixel
            values towards `[-1, 1]`), folded into the weights of the first axis:
            it saves a pass over the image.

    Returns:
        float32 `(N, height, width, C)`.

    Example:

    >>> import numpy as np
    >>> images = np.random.default_rng(0).random((2, 37, 53, 3)).astype("float32")
    >>> ours = resize_bicubic_antialiased(images, (16, 24))
    >>> theirs = tf.image.resize(images, (16, 24), method="bicubic", antialias=True)
    >>> tuple(ours.shape), bool(np.abs(ours - theirs).max() < 1e-6)
    ((2, 16, 24, 3), True)
    """
    images = tf.convert_to_tensor(images, tf.float32)
    height, width = size
    shape = tf.shape(images)
    row_weights = _block_weights(shape[1], height)
    if isinstance(height, int) and isinstance(width, int) and height == width:
        # A square image squashed to a square (the usual case): one set of weights.
        column_weights = tf.cond(
            shape[2] == shape[1], lambda: row_weights, lambda: _block_weights(shape[2], width)
        )
    else:
        column_weights = _block_weights(shape[2], width)
    weights, sources = row_weights
    if value_scale is not None:
        weights = weights * tf.cast(value_scale, tf.float32)
    resized = _resize_axis_1(images, height, weights, sources)
    resized = _resize_axis_1(tf.transpose(resized, (0, 2, 1, 3)), width, *column_weights)
    return tf.transpose(resized, (0, 2, 1, 3))


def _resize_axis_1(images, output_size, weights, sources):
    """`(N, H, W, C)` to `(N, output_size, W, C)` along axis 1."""
    shape = tf.shape(images)
    blocks, window = tf.shape(sources)[0], tf.shape(sources)[1]
    windows = tf.gather(images, sources, axis=1)  # (N, blocks, window, W, C)
    windows = tf.reshape(windows, (shape[0], blocks, window, shape[2] * shape[3]))
    resized = tf.linalg.matmul(weights, windows)  # (N, blocks, BLOCK, W * C)
    resized = tf.reshape(resized, (shape[0], blocks * BLOCK, shape[2], shape[3]))
    return resized[:, :output_size]


def _keys_cubic(x):
    """Keys' cubic convolution kernel with a = -0.5 (TensorFlow's "keyscubic")."""
    x = tf.abs(x)
    near = ((1.5 * x - 2.5) * x) * x + 1.0
    far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return tf.where(x < 1.0, near, tf.where(x < 2.0, far, tf.zeros_like(x)))


def _block_weights(input_size, output_size):
    """The weights of one axis, blocked: `(blocks, BLOCK, window)` and the
    `(blocks, window)` input index each weight column reads.

    Output pixel `x` samples the input at `(x + 0.5) / scale`, reads the input
    pixels whose centres lie within the kernel's radius (stretched by
    `1 / scale` when shrinking) and clipped to the image, weighs them by the
    kernel and divides by the weights' sum, as `ScaleAndTranslate` does. Blocks
    past the last output pixel get zero weights; window columns past the end of
    the input read its last pixel with weight zero.
    """
    input_size = tf.cast(input_size, tf.int32)
    output_size = tf.convert_to_tensor(output_size, tf.int32)
    scale = tf.cast(output_size, tf.float32) / tf.cast(input_size, tf.float32)
    # As in ScaleAndTranslate: the reciprocal in double precision, then float32.
    inverse_scale = tf.cast(1.0 / tf.cast(scale, tf.float64), tf.float32)
    kernel_scale = tf.maximum(inverse_scale, 1.0)
    radius = _KERNEL_RADIUS * kernel_scale
    blocks = (output_size + BLOCK - 1) // BLOCK
    outputs = tf.range(blocks * BLOCK)
    samples = (tf.cast(outputs, tf.float32) + 0.5) * inverse_scale
    last = input_size - 1
    starts = tf.clip_by_value(tf.cast(tf.math.ceil(samples - radius - 0.5), tf.int32), 0, last)
    ends = tf.clip_by_value(tf.cast(tf.math.floor(samples + radius - 0.5), tf.int32), 0, last) + 1
    starts = tf.reshape(starts, (blocks, BLOCK, 1))
    ends = tf.reshape(ends, (blocks, BLOCK, 1))
    # Spans only move forward, so a block's window runs from its first output's
    # start to its last output's end.
    window_starts = starts[:, 0, 0]
    window = tf.reduce_max(ends[:, -1, 0] - window_starts)
    sources = window_starts[:, None] + tf.range(window)[None, :]
    columns = sources[:, None, :]
    inside = (columns >= starts) & (columns < ends)
    inside &= tf.reshape(outputs < output_size, (blocks, BLOCK, 1))
    positions = (tf.cast(columns, tf.float32) + 0.5 - tf.reshape(samples, (blocks, BLOCK, 1))) * (
        1.0 / kernel_scale
    )
    weights = tf.where(inside, _keys_cubic(positions), 0.0)
    total = tf.reduce_sum(weights, axis=-1, keepdims=True)
    weights = tf.where(tf.abs(total) >= 1000.0 * _FLOAT_MIN, weights * (1.0 / total), 0.0)
    return weights, tf.minimum(sources, last)
