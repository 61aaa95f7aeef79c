"""Image dimensions from the header bytes, compared with what Pillow reads."""

import io
import struct

import numpy as np
import pytest
from PIL import Image

from keras_siglip.data.image_header import image_pixels, image_size

SIZES = [(1, 1), (37, 5), (300, 17), (16383, 2)]


def encoded(size, image_format, **options):
    pixels = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, image_format, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "image_format, options",
    [
        ("PNG", {}),
        ("JPEG", {}),
        ("JPEG", {"progressive": True, "exif": b"Exif\x00\x00" + b"\x00" * 5000}),
        ("WEBP", {"lossless": False}),
        ("WEBP", {"lossless": True}),
        ("GIF", {}),
        ("BMP", {}),
    ],
    ids=["png", "jpeg", "progressive-jpeg-with-exif", "webp-lossy", "webp-lossless", "gif", "bmp"],
)
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_sizes_agree_with_pillow(image_format, options, size):
    contents = encoded(size, image_format, **options)
    with Image.open(io.BytesIO(contents)) as image:
        expected = image.size
    assert image_size(contents) == expected == size
    assert image_pixels(contents) == size[0] * size[1]


def test_extended_webp_reads_the_canvas():
    # An RGBA image with an ICC profile is written as VP8X.
    pixels = np.zeros((9, 70, 4), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, "WEBP", icc_profile=b"\x00" * 64)
    contents = buffer.getvalue()
    assert contents[12:16] == b"VP8X"
    assert image_size(contents) == Image.open(io.BytesIO(contents)).size == (70, 9)


def test_top_down_bmp_and_os2_bmp():
    contents = bytearray(encoded((11, 6), "BMP"))
    struct.pack_into("<i", contents, 22, -6)  # rows stored top-down
    assert image_size(bytes(contents)) == (11, 6)
    core = b"BM" + b"\x00" * 12 + struct.pack("<IHHHH", 12, 640, 480, 1, 24)
    assert image_size(core) == (640, 480)


@pytest.mark.parametrize(
    "contents",
    [
        b"",
        b"not an image",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"\xff\xd8\xff\xe0\x00",
        b"GIF89a\x01",
        b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    ],
)
def test_unknown_or_cut_short_headers_give_none(contents):
    assert image_size(contents) is None
    assert image_pixels(contents) == -1


def test_a_huge_png_is_measured_from_its_first_bytes():
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", 20_000, 20_000)
    assert image_size(header + b"\x08\x02\x00\x00\x00") == (20_000, 20_000)
