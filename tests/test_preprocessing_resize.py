"""`resize_bicubic_antialiased` against `tf.image.resize` and a NumPy reference."""

import numpy as np
import pytest
import tensorflow as tf
from test_preprocessing_image import resize_weights

from keras_siglip.preprocessing.resize import BLOCK, resize_bicubic_antialiased

# Against TensorFlow: the same float32 weights, summed in another order.
TOLERANCE = 1e-6
# Against the float64 reference: TensorFlow's float32 sample positions differ from
# the exact ones by up to about 1e-5 of a pixel at 224 px.
REFERENCE_TOLERANCE = 1e-4


def tensorflow_resize(images, size):
    return tf.image.resize(images, size, method="bicubic", antialias=True).numpy()


def numpy_resize(images, size):
    """float64, from the test module's own weights (independent of TensorFlow)."""
    rows = resize_weights(images.shape[1], size[0])
    columns = resize_weights(images.shape[2], size[1])
    return np.einsum("yh,nhwc,xw->nyxc", rows, images.astype(np.float64), columns, optimize=True)


SIZES = [
    # (input height, input width, output height, output width)
    (256, 256, 224, 224),  # img2dataset's 256 px to the model's 224
    (427, 640, 224, 224),  # a photo, squashed
    (64, 64, 32, 32),  # the main job's artwork
    (37, 53, 16, 24),  # odd sizes, not square
    (17, 300, 224, 224),  # up along one axis, down along the other
    (5, 7, 224, 224),  # a large upscale
    (1000, 3, 50, 50),  # a large downscale
    (224, 224, 16, 16),
    (3, 3, 2, 2),
    (1, 1, 5, 5),  # one pixel
    (2, 9, 1, 1),  # to one pixel
    (BLOCK * 3, BLOCK * 3, BLOCK * 2, BLOCK * 2),  # whole blocks only
    (BLOCK * 3 + 1, 11, BLOCK * 2 + 1, 7),  # one pixel into another block
]


@pytest.mark.parametrize("height, width, output_height, output_width", SIZES)
def test_matches_tf_image_resize_and_the_numpy_reference(
    rng, height, width, output_height, output_width
):
    images = rng.random((2, height, width, 3)).astype("float32")
    size = (output_height, output_width)
    ours = resize_bicubic_antialiased(images, size).numpy()
    assert ours.shape == (2, output_height, output_width, 3) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, tensorflow_resize(images, size), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(ours, numpy_resize(images, size), rtol=0, atol=REFERENCE_TOLERANCE)


@pytest.mark.parametrize("channels", [1, 2, 4])
def test_any_number_of_channels(rng, channels):
    images = rng.random((3, 41, 29, channels)).astype("float32")
    np.testing.assert_allclose(
        resize_bicubic_antialiased(images, (20, 33)).numpy(),
        tensorflow_resize(images, (20, 33)),
        rtol=0,
        atol=TOLERANCE,
    )


def test_inside_a_graph_with_shapes_known_only_at_run_time(rng):
    resize = tf.function(
        lambda images: resize_bicubic_antialiased(images, (24, 24)),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
    )
    for height, width in [(31, 47), (24, 24), (8, 100)]:
        images = rng.random((1, height, width, 3)).astype("float32")
        ours = resize(images).numpy()
        assert ours.shape == (1, 24, 24, 3)
        np.testing.assert_allclose(
            ours, tensorflow_resize(images, (24, 24)), rtol=0, atol=TOLERANCE
        )
    # One trace served every size.
    assert resize.experimental_get_tracing_count() == 1


def test_constant_images_stay_constant_and_values_scale_linearly(rng):
    # The weights of every output pixel sum to one; the map is linear.
    constant = np.full((1, 50, 70, 3), 0.3, np.float32)
    np.testing.assert_allclose(
        resize_bicubic_antialiased(constant, (19, 23)).numpy(), 0.3, atol=1e-6
    )
    images = rng.random((1, 50, 70, 3)).astype("float32")
    np.testing.assert_allclose(
        resize_bicubic_antialiased(255.0 * images, (19, 23)).numpy(),
        255.0 * resize_bicubic_antialiased(images, (19, 23)).numpy(),
        rtol=1e-5,
        atol=1e-4,
    )


@pytest.mark.parametrize("size", [(19, 23), (50, 70), (64, 64)])
def test_value_scale_multiplies_the_result(rng, size):
    # 0-255 pixels straight to twice [0, 1], the factor folded into the weights;
    # (50, 70) is the input's own size: weights 1 and 0, then the factor.
    images = 255.0 * rng.random((2, 50, 70, 3)).astype("float32")
    scaled = resize_bicubic_antialiased(images, size, value_scale=2.0 / 255.0).numpy()
    np.testing.assert_allclose(
        scaled, tensorflow_resize(images, size) * (2.0 / 255.0), rtol=0, atol=2 * TOLERANCE
    )
