"""`preprocess_images`: image files, PIL images, arrays or tensors to SigLIP's `[-1, 1]` squares.

SigLIP squashes every image to a square (no crop, aspect ratio not kept) with an
antialiased bicubic resize and maps the values to `[-1, 1]`. Transparent images
are composited over white; grey ones are repeated to three channels.

One convention for pixel values, here and in `SigLIP`: integer pixels are
`[0, 255]` (uint8) or `[0, 65535]` (uint16); float pixels are the model's own
`[-1, 1]`, so model-ready images pass through unchanged. Floats that span more
(`[0, 255]` from a careless cast) are refused with an explanation, never
silently squashed.
"""

import os

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError

from keras_siglip.preprocessing.resize import resize_bicubic_antialiased
from keras_siglip.validation import check_positive_int

# Values this far (a share of the input range) outside `input_range` are read as
# overshoot from an earlier resize and clipped; beyond it the range is wrong.
RANGE_TOLERANCE = 0.05
_DEFAULT_RANGES = {tf.uint8: (0.0, 255.0), tf.uint16: (0.0, 65535.0)}
# Floats are model-ready: the range `SigLIP` takes.
FLOAT_RANGE = (-1.0, 1.0)
_PIL_GREY_MODES_16_BIT = ("I", "I;16", "I;16L", "I;16B", "I;16N")


def preprocess_images(images, image_size, input_range=None):
    """Squash-resizes images to `(image_size, image_size, 3)` in `[-1, 1]`.

    The resize is bicubic with antialiasing (`tf.image.resize(...,
    method="bicubic", antialias=True)`, computed by the faster
    `resize_bicubic_antialiased`), its result clipped to the input range.

    Args:
        images: one of
            - the path of an image file (`str` or `pathlib.Path`) or a PIL image;
            - an array or tensor: `(H, W)` grey, `(H, W, C)` one image or `(N, H,
              W, C)` a batch, with `C` 1 (grey), 2 (grey and alpha), 3 (RGB) or 4
              (RGBA). Alpha is composited over a white background.
            - a list mixing paths, PIL images and arrays (each one image, of any
              size; they are resized one by one and stacked).
              Files and PIL images are read in any mode (L, LA, P, RGB, RGBA,
              16-bit grey, CMYK...), turned upright by their EXIF orientation.
            Inside `tf.data` (graph mode) a tensor of static rank and channels.
        image_size: side of the output squares, in pixels.
        input_range: `(low, high)`, the values of black and white in arrays and
            tensors (files carry their own, see `read_image`). By default
            `(0, 255)` for uint8, `(0, 65535)` for uint16 and `(-1, 1)` (the
            model's range) for floats; other integer types need it. Floats in
            `[0, 1]` therefore need `input_range=(0, 1)`. Concrete values more than
            `RANGE_TOLERANCE` (5%) of the range outside it raise an error; those
            within are clipped.

    Returns:
        float32 `(image_size, image_size, 3)` for one image, `(N, image_size,
        image_size, 3)` for a batch or a list: a NumPy array, or a `tf.Tensor`
        when called on a symbolic tensor.

    Example:

    >>> import numpy as np
    >>> transparent = np.zeros((48, 64, 4), dtype="uint8")  # RGBA, not square
    >>> out = preprocess_images(transparent, 32)  # composited over white
    >>> out.shape, out.dtype, bool(np.allclose(out, 1.0, atol=1e-5))
    ((32, 32, 3), dtype('float32'), True)
    >>> preprocess_images(np.zeros((2, 10, 10, 1), "float32"), 8).shape
    (2, 8, 8, 3)
    """
    check_positive_int("image_size", image_size)
    if input_range is not None:
        input_range = _check_input_range(input_range)
    if isinstance(images, tf.Tensor) and not tf.executing_eagerly():
        return _preprocess_symbolic(images, image_size, input_range)
    if isinstance(images, (str, os.PathLike)):
        return _resize(_read_unit_image(images)[None], image_size)[0]
    if isinstance(images, Image.Image):
        return _resize(_pil_unit_array(images)[None], image_size)[0]
    if isinstance(images, (list, tuple)):
        resized = []
        for index, image in enumerate(images):
            if isinstance(image, (str, os.PathLike)):
                image = _read_unit_image(image)
            elif isinstance(image, Image.Image):
                image = _pil_unit_array(image)
            else:
                image = _unit_range_array(image, input_range, f"`images[{index}]`")
                if image.ndim == 4:
                    raise ValueError(
                        f"`images[{index}]` must be one image, (H, W) or (H, W, C); "
                        f"got shape {image.shape}. Pass a batch as one array."
                    )
            resized.append(_resize(image[None], image_size))
        if not resized:
            return np.zeros((0, image_size, image_size, 3), np.float32)
        return np.concatenate(resized)
    image = _unit_range_array(images, input_range, "`images`")
    if image.ndim == 4:
        return _resize(image, image_size)
    return _resize(image[None], image_size)[0]


def load_images(images, image_size, input_range=None):
    """Any images a user hands over, as one model-ready batch.

    `preprocess_images`, always with a batch axis: one image (a path, a PIL image,
    an `(H, W)` or `(H, W, C)` array) gives a batch of one.

    Args:
        images: what `preprocess_images` takes (eagerly).
        image_size: side of the output squares, in pixels.
        input_range: see `preprocess_images`.

    Returns:
        float32 NumPy `(N, image_size, image_size, 3)` in `[-1, 1]`.

    Example:

    >>> import numpy as np
    >>> from PIL import Image
    >>> batch = load_images([Image.new("RGB", (40, 30)), np.zeros((5, 5), "uint8")], 16)
    >>> batch.shape, float(batch.min())
    ((2, 16, 16, 3), -1.0)
    >>> load_images(np.zeros((20, 20, 3), "float32"), 16).shape
    (1, 16, 16, 3)
    """
    batch = np.asarray(preprocess_images(images, image_size, input_range))
    return batch[None] if batch.ndim == 3 else batch


def _pil_unit_array(image):
    """A PIL image as a float32 `(H, W, C)` array in `[0, 1]` (the resize's working
    range), upright by its EXIF orientation, `C` in 1 to 4."""
    if not isinstance(image, Image.Image):
        raise ValueError(f"`image` must be a PIL image; got {type(image).__name__}.")
    image = ImageOps.exif_transpose(image)
    array, (low, high) = _pil_array(image)
    return _unit_range_array(array, (low, high), "The PIL image")


def read_image(path):
    """An image file as a float32 `(H, W, C)` array in the model's `[-1, 1]`, `C` in 1 to 4.

    Floats here follow the package's one convention (`[-1, 1]`), so the array can go
    straight to `preprocess_images`, `SigLIPPreprocessor` or `SigLIP`. The file's
    mode gives the range of its pixels: `[0, 255]` for 8-bit modes, `[0, 65535]`
    for 16-bit grey ("I;16", and "I", which older Pillow versions use for it) and
    `[0, 1]` for 32-bit float ("F"). Palette images with transparency and other
    modes with alpha become RGBA, other modes (CMYK, YCbCr...) RGB. The EXIF
    orientation is applied.

    Example:

    >>> import os, tempfile
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "grey.png")
    >>> Image.new("L", (5, 3), color=255).save(path)
    >>> image = read_image(path)
    >>> image.shape, float(image.max())
    ((3, 5, 1), 1.0)
    """
    return _read_unit_image(path) * np.float32(2.0) - np.float32(1.0)


def _read_unit_image(path):
    """An image file as a float32 `(H, W, C)` array in `[0, 1]` (see `read_image`)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"The image file {path!r} does not exist.")
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            array, (low, high) = _pil_array(image)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as error:
        raise ValueError(f"Cannot read the image file {path!r}: {error}") from None
    return _unit_range_array(array, (low, high), f"The image file {path!r}")


def _pil_array(image):
    """The pixels of a Pillow image and the values of black and white."""
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image), (0.0, 255.0)
    if image.mode in _PIL_GREY_MODES_16_BIT:
        return np.asarray(image).astype(np.int32), (0.0, 65535.0)
    if image.mode == "F":
        return np.asarray(image), (0.0, 1.0)
    if image.mode == "1":
        return np.asarray(image.convert("L")), (0.0, 255.0)
    has_alpha = "A" in image.getbands() or "a" in image.getbands()
    if image.mode == "P" and "transparency" in image.info:
        has_alpha = True
    return np.asarray(image.convert("RGBA" if has_alpha else "RGB")), (0.0, 255.0)


def _check_input_range(input_range):
    try:
        low, high = (float(value) for value in input_range)
    except (TypeError, ValueError):
        low = high = None
    if low is None or not np.isfinite([low, high]).all() or not low < high:
        raise ValueError(
            "`input_range` must be `(low, high)`, two finite numbers with low < high "
            f"(the values of black and white), got {input_range!r}."
        )
    return low, high


def _default_range(dtype, where):
    if dtype in _DEFAULT_RANGES:
        return _DEFAULT_RANGES[dtype]
    if dtype.is_floating:
        return FLOAT_RANGE
    raise ValueError(
        f"{where} has dtype {dtype.name}, which has no standard range of pixel values: "
        "pass `input_range=(low, high)`, the values of black and white."
    )


def _check_dtype(dtype, where):
    if dtype == tf.bool or not (dtype.is_integer or dtype.is_floating):
        raise ValueError(
            f"{where} must hold pixel values: unsigned integers (uint8 in [0, 255]) or "
            f"floats (in [-1, 1] unless `input_range` says otherwise); got dtype {dtype.name}."
        )


def _check_shape(shape, where):
    rank = len(shape)
    if rank not in (2, 3, 4):
        raise ValueError(
            f"{where} must be (H, W) grey, (H, W, C) one image or (N, H, W, C) a batch; "
            f"got rank {rank}, shape {tuple(shape)}."
        )
    channels = 1 if rank == 2 else shape[-1]
    if channels is None:
        raise ValueError(
            f"{where} has an unknown number of channels (shape {tuple(shape)}): give it a "
            "static one, e.g. `tf.io.decode_image(..., channels=3, expand_animations=False)`."
        )
    if channels not in (1, 2, 3, 4):
        batch_hint = (
            " A batch of grey images needs a channel axis: (N, H, W, 1)." if rank == 3 else ""
        )
        raise ValueError(
            f"{where} must have 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA) "
            f"channels in its last axis; got {channels}, shape {tuple(shape)}.{batch_hint}"
        )
    height, width = shape[:2] if rank == 2 else shape[-3:-1]
    if height == 0 or width == 0:
        raise ValueError(f"{where} is empty: shape {tuple(shape)}.")


def _unit_range_array(images, input_range, where):
    """A concrete image or batch as float32 with channels, black 0 and white 1."""
    if isinstance(images, tf.Tensor):
        images = images.numpy()
    array = np.asarray(images)
    try:
        dtype = tf.as_dtype(array.dtype)
    except TypeError:
        dtype = tf.string  # Anything TensorFlow cannot hold is not pixel values.
    if dtype == tf.string:
        raise ValueError(
            f"{where} must hold pixel values or be image file paths; got "
            f"{type(images).__name__} with dtype {array.dtype}."
        )
    _check_dtype(dtype, where)
    _check_shape(array.shape, where)
    low, high = input_range or _default_range(dtype, where)
    array = array.astype(np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    seen_min, seen_max = float(array.min()), float(array.max())
    tolerance = RANGE_TOLERANCE * (high - low)
    if not (seen_min >= low - tolerance and seen_max <= high + tolerance):
        if input_range is None and dtype.is_floating and seen_min >= -tolerance:
            detected = "[0, 255]" if seen_max <= 255 * (1 + RANGE_TOLERANCE) else "beyond [0, 255]"
            raise ValueError(
                f"{where} holds floats spanning [{seen_min:g}, {seen_max:g}], which look like "
                f"pixel values in {detected}; float images must be the model's [-1, 1]. "
                "Pass uint8 pixels (`images.astype('uint8')`), scale the floats to [-1, 1] "
                "(`images / 127.5 - 1`), or pass `input_range=(0, 255)`."
            )
        raise ValueError(
            f"{where} should have values in [{low:g}, {high:g}] (dtype "
            f"{dtype.name}{'' if input_range else ', default range'}), but they span "
            f"[{seen_min:g}, {seen_max:g}]. Pass `input_range=(low, high)` with the "
            "values of black and white, e.g. (0, 255) for floats in [0, 255] or "
            "(0, 1) for floats in [0, 1]."
        )
    if input_range is None and dtype.is_integer:
        # As in the graph path, bit for bit: the default range starts at 0.
        return array * np.float32(1.0 / high)
    return np.clip((array - low) / (high - low), 0.0, 1.0)


def _preprocess_symbolic(images, image_size, input_range):
    _check_dtype(images.dtype, "`images`")
    if images.shape.rank is None:
        raise ValueError("`images` must have a static rank (2, 3 or 4) inside tf.data.")
    _check_shape(images.shape.as_list(), "`images`")
    low, high = input_range or _default_range(images.dtype, "`images`")
    if input_range is None and images.dtype.is_integer:
        # uint8 and uint16 values lie in their default range (low 0): one pass over
        # the full-size image instead of three, in every sample of a pipeline.
        unit = tf.cast(images, tf.float32) * (1.0 / high)
    else:
        unit = (tf.cast(images, tf.float32) - low) / (high - low)
        unit = tf.clip_by_value(unit, 0.0, 1.0)
    if images.shape.rank == 2:
        unit = unit[:, :, None]
    if unit.shape.rank == 4:
        return _resize(unit, image_size)
    return _resize(unit[None], image_size)[0]


def preprocess_decoded(image, image_size):
    """A decoded `(H, W, C)` image, pixels from 0 to 255 (uint8, or float32 as
    `rgb_over_white` returns them), to `(image_size, image_size, 3)` in `[-1, 1]`:
    `preprocess_images` for `tf.data` maps, where the channels `C` (1 to 4) may be
    known only at run time (`tf.io.decode_image(..., channels=0)`).

    One resize serves every channel count: grey is repeated and alpha composited over
    white *before* it (in `preprocess_images` grey is repeated after the resize, which
    gives the same values to float round-off). A branch per channel count with its own
    resize cost every sample about 0.2 ms of CPU more on 2 cores (2026-11-28): a
    lowered `tf.switch_case` still visits every op of its untaken branches.
    """
    if image.shape.rank == 3 and image.shape[-1] == 3:
        rgb = tf.cast(image, tf.float32)  # 0 to 255
    else:
        rgb = rgb_over_white(image)
    # 0-255 to [-1, 1] folded into the resize's weights: no pass over the image for it.
    resized = _resize_unless_square_of(rgb[None], image_size, value_scale=2.0 / 255.0)[0]
    return tf.clip_by_value(resized - 1.0, -1.0, 1.0)


def rgb_over_white(image):
    """uint8 `(H, W, C)`, `C` 1 to 4 known at run time, to float32 RGB from 0 to 255,
    alpha composited over white."""
    pixels = tf.cast(image, tf.float32)
    channels = tf.shape(image)[-1]

    def grey():
        return tf.repeat(tf.ensure_shape(pixels, [None, None, 1]), 3, axis=-1)

    def grey_and_alpha():
        grey_alpha = tf.ensure_shape(pixels, [None, None, 2])
        alpha = grey_alpha[..., 1:] * (1.0 / 255.0)
        return tf.repeat(grey_alpha[..., :1] * alpha + 255.0 * (1.0 - alpha), 3, axis=-1)

    def rgb():
        return tf.ensure_shape(pixels, [None, None, 3])

    def rgba():
        color_alpha = tf.ensure_shape(pixels, [None, None, 4])
        alpha = color_alpha[..., 3:] * (1.0 / 255.0)
        return color_alpha[..., :3] * alpha + 255.0 * (1.0 - alpha)

    composited = tf.switch_case(
        tf.clip_by_value(channels, 1, 4) - 1, [grey, grey_and_alpha, rgb, rgba]
    )
    composited.set_shape([None, None, 3])
    return composited


def _resize_unless_square_of(images, image_size, value_scale):
    """The antialiased bicubic resize (times `value_scale`), skipped for images
    already `image_size` square.

    At the same size the resize is the identity, bit for bit (its kernel weights are
    exactly 1 and 0), so skipping it changes nothing but the time: about 1 ms of a
    224-pixel image, which corpora stored at the model's size (img2dataset's
    `--image_size 224`) then save on every sample.
    """

    def resize():
        return resize_bicubic_antialiased(images, (image_size, image_size), value_scale=value_scale)

    def scale():
        return images * value_scale

    height, width = images.shape[1], images.shape[2]
    if height is not None and width is not None:
        return scale() if height == width == image_size else resize()
    shape = tf.shape(images)
    # The static shape is set after the cond: an `ensure_shape` inside the untaken
    # branch raised in a `tf.function` (TensorFlow 2.21), though not in `tf.data`.
    resized = tf.cond(tf.logical_and(shape[1] == image_size, shape[2] == image_size), scale, resize)
    resized.set_shape([images.shape[0], image_size, image_size, images.shape[3]])
    return resized


def _resize(images, image_size):
    """`(N, H, W, C)` floats in [0, 1] to `(N, size, size, 3)` in [-1, 1]."""
    symbolic = isinstance(images, tf.Tensor) and not tf.executing_eagerly()
    images = tf.convert_to_tensor(images, tf.float32)
    channels = images.shape[-1]
    if channels in (2, 4):
        color, alpha = images[..., :-1], images[..., -1:]
        images = color * alpha + (1.0 - alpha)
    # [0, 1] to [-1, 1]: the factor 2 folded into the resize's weights.
    images = _resize_unless_square_of(images, image_size, value_scale=2.0)
    if channels in (1, 2):
        images = tf.repeat(images, 3, axis=-1)
    images = tf.clip_by_value(images - 1.0, -1.0, 1.0)
    return images if symbolic else images.numpy()
