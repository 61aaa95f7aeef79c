"""Raw images in every form a user hands over give the same model input."""

import io
import pathlib

import numpy as np
import pytest
from PIL import Image
from test_preprocessing_image import reference

from keras_siglip.preprocessing import (
    SigLIPPreprocessor,
    SigLIPTokenizer,
    load_images,
    train_sentencepiece,
)

SIZE = 16


@pytest.fixture
def pixels(rng):
    # Smooth enough that a high-quality JPEG is close to it, not equal.
    rows = np.linspace(0, 1, 37)[:, None, None]
    columns = np.linspace(0, 1, 53)[None, :, None]
    image = 255 * (0.5 + 0.4 * np.sin(6 * rows + 3 * columns + np.arange(3)))
    return np.clip(image, 0, 255).astype(np.uint8)


def test_png_jpeg_pil_and_arrays_give_the_reference_input(tmp_path, pixels):
    png = tmp_path / "image.png"
    jpeg = tmp_path / "image.jpg"
    Image.fromarray(pixels).save(png)
    Image.fromarray(pixels).save(jpeg, quality=95)
    expected = reference(pixels, SIZE, 0, 255).astype(np.float32)
    decoded_jpeg = np.asarray(Image.open(jpeg))
    expected_jpeg = reference(decoded_jpeg, SIZE, 0, 255)

    batch = load_images(
        [
            str(png),
            png,
            Image.open(png),
            pixels,
            pixels / 127.5 - 1,
            str(jpeg),
            Image.open(jpeg),
        ],
        SIZE,
    )
    assert batch.shape == (7, SIZE, SIZE, 3) and batch.dtype == np.float32
    for row in batch[:5]:
        np.testing.assert_allclose(row, expected, rtol=0, atol=1e-4)
    for row in batch[5:]:
        np.testing.assert_allclose(row, expected_jpeg, rtol=0, atol=1e-4)
    # The JPEG's own loss, so that the comparison above is not vacuous.
    assert np.abs(decoded_jpeg.astype(int) - pixels).max() > 0

    # One image, in any form, is a batch of one.
    for single in (png, str(png), Image.open(png), pixels, pixels / 127.5 - 1):
        np.testing.assert_allclose(load_images(single, SIZE)[0], expected, rtol=0, atol=1e-4)
    # A model-ready batch goes through unchanged.
    ready = batch[:2]
    np.testing.assert_allclose(load_images(ready, SIZE), ready, rtol=0, atol=1e-6)


def test_the_preprocessor_takes_paths_and_pil_images(tmp_path, pixels):
    corpus = [f"a {size} {animal}" for size in ("big", "small") for animal in ("cat", "dog", "fox")]
    tokenizer = SigLIPTokenizer(train_sentencepiece(corpus * 3, 18), sequence_length=8)
    preprocessor = SigLIPPreprocessor(tokenizer, image_size=SIZE)
    path = tmp_path / "image.png"
    Image.fromarray(pixels).save(path)
    outputs = preprocessor({"images": [path, Image.fromarray(pixels)], "texts": ["a", "b"]})
    expected = reference(pixels, SIZE, 0, 255)
    for row in outputs["images"]:
        np.testing.assert_allclose(row, expected, rtol=0, atol=1e-4)
    single = preprocessor({"images": pathlib.Path(path)})["images"]
    np.testing.assert_allclose(single, expected, rtol=0, atol=1e-4)


def test_exif_orientation_of_pil_images_is_applied(pixels):
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    rotated = Image.open(_saved(image, exif))
    expected = reference(np.rot90(np.asarray(rotated), k=-1), SIZE, 0, 255)
    np.testing.assert_allclose(load_images(rotated, SIZE)[0], expected, rtol=0, atol=1e-4)


def _saved(image, exif):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=exif)
    buffer.seek(0)
    return buffer


def test_float_pixels_in_0_255_are_refused_naming_the_range(pixels):
    with pytest.raises(ValueError, match=r"spanning \[\d+, \d+\].*pixel values in \[0, 255\]"):
        load_images(pixels.astype("float32"), SIZE)
    with pytest.raises(ValueError, match=r"`images\[1\]` holds floats.*\[0, 255\]"):
        load_images([pixels, pixels.astype("float32")], SIZE)
