"""`preprocess_images` against a NumPy reference of antialiased bicubic squash resizing."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_siglip.preprocessing import preprocess_images, read_image
from keras_siglip.preprocessing.image import preprocess_decoded

# --- NumPy reference -------------------------------------------------------------


def keys_cubic(x, a=-0.5):
    """Keys' cubic convolution kernel (TensorFlow's "keyscubic")."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def resize_weights(input_size, output_size):
    """`(output_size, input_size)` weights of one axis, as TF's scale_and_translate.

    Output pixel `i` samples at `(i + 0.5) * input_size / output_size` (half-pixel
    centres); when shrinking, the kernel is stretched by the downscale factor
    (antialiasing); taps outside the image are dropped and the rest renormalised.
    """
    inverse_scale = input_size / output_size
    kernel_scale = max(inverse_scale, 1.0)
    centres = (np.arange(output_size) + 0.5) * inverse_scale
    offsets = np.arange(input_size)[None, :] + 0.5 - centres[:, None]
    weights = keys_cubic(offsets / kernel_scale)
    return weights / weights.sum(axis=1, keepdims=True)


def reference(image, size, low=0.0, high=1.0):
    """One `(H, W)` or `(H, W, C)` image to `(size, size, 3)` in [-1, 1], in float64."""
    image = (np.asarray(image, np.float64) - low) / (high - low)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[-1] in (2, 4):
        alpha = image[..., -1:]
        image = image[..., :-1] * alpha + (1.0 - alpha)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    rows = resize_weights(image.shape[0], size)
    columns = resize_weights(image.shape[1], size)
    resized = np.einsum("yh,hwc,xw->yxc", rows, image, columns)
    return np.clip(resized, 0.0, 1.0) * 2.0 - 1.0


TOLERANCE = 1e-4


def assert_matches(actual, expected):
    assert actual.dtype == np.float32
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOLERANCE)


# --- Arrays ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "height, width, size",
    [(37, 53, 16), (64, 24, 32), (10, 7, 24), (5, 300, 32), (32, 32, 32)],
)
def test_uint8_images_match_the_reference(rng, height, width, size):
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    assert_matches(preprocess_images(image, size), reference(image, size, 0, 255))


def test_the_reference_does_what_it_claims(rng):
    # A constant image stays constant; a shrink by an integer factor with a wide
    # kernel smooths a checkerboard towards grey (the antialiasing).
    assert np.allclose(reference(np.full((9, 13), 0.25), 4), -0.5)
    checkerboard = np.indices((64, 64)).sum(axis=0) % 2
    assert np.abs(reference(checkerboard, 8)).max() < 0.01
    assert_matches(
        preprocess_images(checkerboard.astype("float32"), 8, input_range=(0, 1)),
        reference(checkerboard, 8),
    )


def test_float_images_use_their_input_range(rng):
    unit = rng.random((30, 20, 3)).astype(np.float32)
    expected = reference(unit, 12)
    # Floats are the model's [-1, 1] unless `input_range` says otherwise.
    assert_matches(preprocess_images(unit * 2 - 1, 12), expected)
    assert_matches(preprocess_images((unit * 2 - 1).astype(np.float64), 12), expected)
    assert_matches(preprocess_images(unit, 12, input_range=(0, 1)), expected)
    assert_matches(preprocess_images(unit * 255, 12, input_range=(0, 255)), expected)
    assert_matches(preprocess_images(unit * 2 - 1, 12, input_range=(-1, 1)), expected)
    # Overshoot within the tolerance (from an earlier resize) is clipped.
    overshoot = unit * 2 - 1
    overshoot[0, 0] = [1.06, -1.04, 0.5]
    assert_matches(
        preprocess_images(overshoot, 12), reference(np.clip(overshoot, -1, 1), 12, -1, 1)
    )


def test_grey_images_with_or_without_a_channel_axis(rng):
    grey = rng.integers(0, 256, (20, 45), dtype=np.uint8)
    expected = reference(grey, 16, 0, 255)
    assert_matches(preprocess_images(grey, 16), expected)
    assert_matches(preprocess_images(grey[:, :, None], 16), expected)
    out = preprocess_images(grey, 16)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_transparent_images_are_composited_over_white(rng):
    rgba = rng.integers(0, 256, (24, 18, 4), dtype=np.uint8)
    assert_matches(preprocess_images(rgba, 10), reference(rgba, 10, 0, 255))

    # By hand, on flat images: alpha 0 is white whatever the colour, alpha 255 the
    # colour itself, and black at alpha 51 (20%) is 80% white: 0.6 in [-1, 1].
    def flat(red, green, blue, alpha):
        return np.broadcast_to(np.array([red, green, blue, alpha], np.uint8), (6, 6, 4))

    for image, expected in [
        (flat(200, 40, 0, 0), [1.0, 1.0, 1.0]),
        (flat(255, 0, 51, 255), [1.0, -1.0, -0.6]),
        (flat(0, 0, 0, 51), [0.6, 0.6, 0.6]),
    ]:
        out = preprocess_images(image, 3)
        np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), atol=1e-5)

    grey_alpha = rng.integers(0, 256, (9, 9, 2), dtype=np.uint8)
    assert_matches(preprocess_images(grey_alpha, 4), reference(grey_alpha, 4, 0, 255))


def test_batches_and_lists_of_different_sizes(rng):
    batch = rng.integers(0, 256, (3, 20, 30, 3), dtype=np.uint8)
    out = preprocess_images(batch, 8)
    assert out.shape == (3, 8, 8, 3)
    for image, result in zip(batch, out):
        assert_matches(result, reference(image, 8, 0, 255))

    shapes = [(5, 9, 3), (40, 12), (7, 7, 4)]
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in shapes]
    out = preprocess_images(images, 6)
    assert out.shape == (3, 6, 6, 3)
    for image, result in zip(images, out):
        assert_matches(result, reference(image, 6, 0, 255))
    assert preprocess_images([], 6).shape == (0, 6, 6, 3)


def test_tensors_eagerly_and_inside_tf_data(rng):
    images = rng.integers(0, 256, (4, 15, 25, 3), dtype=np.uint8)
    eager = preprocess_images(images, 8)
    np.testing.assert_array_equal(preprocess_images(tf.constant(images), 8), eager)

    unbatched = tf.data.Dataset.from_tensor_slices(images).map(lambda x: preprocess_images(x, 8))
    assert unbatched.element_spec == tf.TensorSpec((8, 8, 3), tf.float32)
    np.testing.assert_allclose(np.stack([x.numpy() for x in unbatched]), eager, atol=1e-6)

    batched = tf.data.Dataset.from_tensor_slices(images).batch(3)
    batched = batched.map(lambda x: preprocess_images(x, 8))
    np.testing.assert_allclose(np.concatenate([x.numpy() for x in batched]), eager, atol=1e-6)

    floats = tf.data.Dataset.from_tensor_slices(images.astype("float32") / 127.5 - 1)
    floats = floats.map(lambda x: preprocess_images(x, 8))
    np.testing.assert_allclose(np.stack([x.numpy() for x in floats]), eager, atol=1e-5)


def test_images_already_at_the_size_are_not_resized(rng):
    # The resize at the same size is the identity, so skipping it must give the
    # same values; the graph path decides per image when sizes are unknown.
    square = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        preprocess_images(square, 8), square / 255.0 * 2 - 1, rtol=0, atol=1e-6
    )
    shapes = [(8, 8), (15, 25), (8, 8), (3, 8), (8, 11)]
    images = [rng.integers(0, 256, shape + (3,), dtype=np.uint8) for shape in shapes]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(images), output_signature=tf.TensorSpec((None, None, 3), tf.uint8)
    ).map(lambda x: preprocess_images(x, 8))
    assert dataset.element_spec == tf.TensorSpec((8, 8, 3), tf.float32)
    for image, out in zip(images, dataset):
        assert_matches(out.numpy(), reference(image, 8, 0, 255))
        np.testing.assert_array_equal(out.numpy(), preprocess_images(image, 8))


# --- Files -----------------------------------------------------------------------


def save(tmp_path, name, image):
    path = tmp_path / name
    image.save(path)
    return path


def test_files_in_many_modes(tmp_path, rng):
    rgb = rng.integers(0, 256, (12, 21, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (12, 21, 4), dtype=np.uint8)
    grey = rng.integers(0, 256, (12, 21), dtype=np.uint8)
    grey16 = rng.integers(0, 65536, (12, 21), dtype=np.uint16)
    la = rng.integers(0, 256, (12, 21, 2), dtype=np.uint8)
    palette = Image.fromarray(rgb).quantize(16)
    transparent_palette = palette.copy()
    transparent_palette.info["transparency"] = 3
    cases = [
        (save(tmp_path, "rgb.png", Image.fromarray(rgb)), reference(rgb, 8, 0, 255)),
        (save(tmp_path, "rgba.png", Image.fromarray(rgba)), reference(rgba, 8, 0, 255)),
        (save(tmp_path, "l.png", Image.fromarray(grey)), reference(grey, 8, 0, 255)),
        (save(tmp_path, "la.png", Image.fromarray(la, "LA")), reference(la, 8, 0, 255)),
        (save(tmp_path, "i16.png", Image.fromarray(grey16)), reference(grey16, 8, 0, 65535)),
        (
            save(tmp_path, "p.png", palette),
            reference(np.asarray(palette.convert("RGB")), 8, 0, 255),
        ),
        (
            save(tmp_path, "pa.png", transparent_palette),
            reference(np.asarray(transparent_palette.convert("RGBA")), 8, 0, 255),
        ),
        (
            save(tmp_path, "bw.png", Image.fromarray(grey > 127)),
            reference((grey > 127) * 255.0, 8, 0, 255),
        ),
        (
            save(tmp_path, "cmyk.tif", Image.fromarray(rgb).convert("CMYK")),
            reference(np.asarray(Image.fromarray(rgb).convert("CMYK").convert("RGB")), 8, 0, 255),
        ),
    ]
    assert Image.open(cases[4][0]).mode == "I;16"
    assert Image.open(cases[6][0]).mode == "P" and "transparency" in Image.open(cases[6][0]).info
    for path, expected in cases:
        assert_matches(preprocess_images(path, 8), expected)
        assert_matches(preprocess_images(str(path), 8), expected)

    out = preprocess_images([path for path, _ in cases], 8)
    assert out.shape == (len(cases), 8, 8, 3)
    for result, (_, expected) in zip(out, cases):
        assert_matches(result, expected)


def test_files_of_different_sizes_and_mixed_with_arrays(tmp_path, rng):
    wide = rng.integers(0, 256, (10, 40, 3), dtype=np.uint8)
    tall = rng.integers(0, 256, (50, 8, 3), dtype=np.uint8)
    paths = [
        save(tmp_path, "wide.png", Image.fromarray(wide)),
        save(tmp_path, "tall.png", Image.fromarray(tall)),
    ]
    out = preprocess_images([paths[0], tall, paths[1]], 16)
    assert_matches(out[0], reference(wide, 16, 0, 255))
    assert_matches(out[1], reference(tall, 16, 0, 255))
    assert_matches(out[2], reference(tall, 16, 0, 255))
    image = read_image(paths[0])
    assert image.shape == (10, 40, 3) and image.dtype == np.float32
    np.testing.assert_allclose(image, wide / 255.0 * 2 - 1, atol=1e-6)


def test_exif_orientation_is_applied(tmp_path):
    image = np.zeros((4, 10, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: upright, the image is 10 high, 4 wide
    Image.fromarray(image).save(tmp_path / "rotated.jpg", exif=exif)
    assert read_image(tmp_path / "rotated.jpg").shape == (10, 4, 3)


# --- Errors ----------------------------------------------------------------------


def test_unreadable_files_are_named(tmp_path):
    missing = tmp_path / "missing.png"
    with pytest.raises(FileNotFoundError, match="The image file '.*missing.png' does not exist"):
        preprocess_images(missing, 8)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="Cannot read the image file '.*corrupt.png'"):
        preprocess_images([corrupt], 8)
    truncated = tmp_path / "truncated.png"
    Image.new("RGB", (64, 64), "red").save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.raises(ValueError, match="Cannot read the image file '.*truncated.png'"):
        preprocess_images(truncated, 8)


def test_float_values_outside_the_range_are_explained():
    pixels = np.linspace(0, 255, 300, dtype=np.float32).reshape(10, 10, 3)
    with pytest.raises(ValueError) as error:
        preprocess_images(pixels, 8)
    message = str(error.value)
    assert "`images` holds floats spanning [0, 255]" in message
    assert "pixel values in [0, 255]; float images must be the model's [-1, 1]" in message
    assert "astype('uint8')" in message and "input_range=(0, 255)" in message
    with pytest.raises(ValueError, match=r"spanning \[0, 70000\].*beyond \[0, 255\]"):
        preprocess_images(np.linspace(0, 70000, 48).reshape(4, 4, 3), 8)
    with pytest.raises(ValueError, match=r"values in \[-1, 1\].*span \[-3, 0.5\]"):
        preprocess_images(np.linspace(-3, 0.5, 48).reshape(4, 4, 3), 8)
    with pytest.raises(ValueError, match=r"`images\[1\]` should have values in \[-1, 1\]"):
        preprocess_images([np.zeros((4, 4)), np.full((4, 4), 3.0)], 8, input_range=(-1, 1))
    with pytest.raises(ValueError, match=r"span \[nan, nan\]"):
        preprocess_images(np.full((4, 4), np.nan), 8)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((4, 4, 3), bool), "`images` must hold pixel values.*got dtype bool"),
        (np.array([["a", "b"]]), "`images` must hold pixel values or be image file paths"),
        (np.zeros((4, 4, 3), np.complex64), "got dtype complex64"),
        (np.zeros((4, 4, 3), np.int32), "dtype int32, which has no standard range"),
        (np.zeros(16, np.uint8), r"got rank 1, shape \(16,\)"),
        (np.zeros((1, 2, 4, 4, 3), np.uint8), "got rank 5"),
        (np.zeros((4, 4, 5), np.uint8), r"or 4 \(RGBA\) channels in its last axis; got 5"),
        (np.zeros((8, 32, 32), np.uint8), r"got 32.*A batch of grey images needs a channel axis"),
        (np.zeros((0, 4, 3), np.uint8), "`images` is empty"),
        ([np.zeros((2, 4, 4, 3), np.uint8)], r"`images\[0\]` must be one image"),
    ],
)
def test_bad_images_are_explained(images, message):
    with pytest.raises(ValueError, match=message):
        preprocess_images(images, 8)


def test_bad_arguments_are_explained():
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="`image_size` must be a positive integer, got 0"):
        preprocess_images(image, 0)
    with pytest.raises(ValueError, match=r"`input_range` must be `\(low, high\)`.*got \(1, 0\)"):
        preprocess_images(image, 8, input_range=(1, 0))
    with pytest.raises(ValueError, match="`input_range` must be"):
        preprocess_images(image, 8, input_range=5)


def test_symbolic_inputs_are_checked_while_tracing():
    strings = tf.data.Dataset.from_tensor_slices(["a", "b"])
    with pytest.raises(ValueError, match="`images` must hold pixel values.*got dtype string"):
        strings.map(lambda x: preprocess_images(x, 8))
    pngs = tf.data.Dataset.from_tensors(tf.image.encode_png(tf.zeros((4, 4, 3), tf.uint8)))
    with pytest.raises(ValueError, match="unknown number of channels.*channels=3"):
        pngs.map(lambda png: preprocess_images(tf.io.decode_png(png), 8))
    decoded = pngs.map(lambda png: preprocess_images(tf.io.decode_png(png, channels=3), 8))
    np.testing.assert_allclose(next(iter(decoded)).numpy(), -1.0, atol=1e-6)


def test_inside_a_tf_function_with_unknown_sizes(rng):
    # Resized or already at the size, in one trace; the untaken branch must not
    # check its shape (an `ensure_shape` there raised in TensorFlow 2.21).
    preprocess = tf.function(
        lambda images: preprocess_images(images, 24),
        input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)],
    )
    for height, width in [(40, 31), (24, 24)]:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        out = preprocess(image)
        assert out.shape == (24, 24, 3)
        assert_matches(out.numpy(), reference(image, 24, 0, 255))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("height, width", [(37, 45), (32, 32)])
def test_preprocess_decoded_equals_preprocess_images_for_every_channel_count(
    rng, channels, height, width
):
    """What the corpus pipelines run on decoded images whose channels are known only at
    run time: the same values as `preprocess_images` on the same pixels."""
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    decoded = tf.function(
        lambda image: preprocess_decoded(image, 32),
        input_signature=[tf.TensorSpec([None, None, None], tf.uint8)],
    )
    ours = decoded(pixels).numpy()
    assert ours.shape == (32, 32, 3)
    np.testing.assert_allclose(ours, preprocess_images(pixels, 32), rtol=0, atol=2e-6)
