"""EXIF orientation read and applied in the tf.data graph, against Pillow's `exif_transpose`."""

import io
import struct

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from keras_siglip.data.exif import HEADER_BYTES, exif_orientation, upright

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="TensorFlow ops whatever the Keras backend: tested once, on JAX",
)

ORIENTATION = 0x0112


def _exif(entries, byte_order=b"II", magic=42, directory_offset=8, stated_offset=None):
    """APP1 payload: "Exif\\0\\0", a TIFF header and one IFD of `(tag, type, count, value)` entries.

    `stated_offset` writes another IFD offset into the header than where the IFD is.
    """
    endian = "<" if byte_order == b"II" else ">"
    directory = struct.pack(endian + "H", len(entries))
    for tag, kind, count, value in entries:
        directory += struct.pack(endian + "HHI", tag, kind, count) + value
    directory += struct.pack(endian + "I", 0)
    stated = directory_offset if stated_offset is None else stated_offset
    header = byte_order + struct.pack(endian + "HI", magic, stated)
    return b"Exif\0\0" + header + b"\0" * (directory_offset - 8) + directory


def _orientation_entry(value, byte_order=b"II"):
    endian = "<" if byte_order == b"II" else ">"
    return (ORIENTATION, 3, 1, struct.pack(endian + "HH", value, 0))


def _jpeg(pixels, exif=None):
    buffer = io.BytesIO()
    options = {"exif": exif} if exif is not None else {}
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pixels():
    # Not square and not symmetric, so that every orientation gives another image.
    return np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)


@pytest.mark.parametrize("byte_order", [b"II", b"MM"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(pixels, orientation, byte_order):
    maker = (0x010F, 2, 4, b"abc\0")  # another tag before the orientation
    contents = _jpeg(
        pixels, _exif([maker, _orientation_entry(orientation, byte_order)], byte_order)
    )
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(contents))))

    assert int(exif_orientation(tf.constant(contents))) == orientation
    decoded = tf.io.decode_jpeg(contents, dct_method="INTEGER_ACCURATE")
    np.testing.assert_array_equal(upright(decoded, tf.constant(contents)).numpy(), expected)


def test_pillows_own_exif_writer_and_a_graph(pixels):
    exif = Image.Exif()
    exif[0x010F] = "camera maker"
    exif[0x0132] = "2026:11:27 12:00:00"
    exif[ORIENTATION] = 6
    contents = _jpeg(pixels, exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(contents))))

    dataset = tf.data.Dataset.from_tensor_slices([contents]).map(
        lambda data: upright(tf.io.decode_jpeg(data, dct_method="INTEGER_ACCURATE"), data)
    )
    image = next(dataset.as_numpy_iterator())
    assert image.shape == (10, 6, 3)
    np.testing.assert_array_equal(image, expected)


def test_an_exif_segment_after_other_segments(pixels):
    # A JFIF APP0 and a comment come first: the marker walk must step over them.
    plain = _jpeg(pixels)
    comment = b"\xff\xfe" + struct.pack(">H", 2 + 300) + b"x" * 300
    app1 = _exif([_orientation_entry(8)])
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + len(app1)) + app1
    app0_end = 4 + struct.unpack(">H", plain[4:6])[0]
    assert plain[2:4] == b"\xff\xe0"
    contents = plain[:app0_end] + comment + app1 + plain[app0_end:]
    assert Image.open(io.BytesIO(contents)).getexif()[ORIENTATION] == 8
    assert int(exif_orientation(tf.constant(contents))) == 8


@pytest.mark.parametrize(
    "description, make",
    [
        ("no EXIF", lambda p: _jpeg(p)),
        ("EXIF without an orientation", lambda p: _jpeg(p, _exif([(0x010F, 2, 4, b"abc\0")]))),
        ("orientation 0", lambda p: _jpeg(p, _exif([_orientation_entry(0)]))),
        ("orientation 9", lambda p: _jpeg(p, _exif([_orientation_entry(9)]))),
        ("bad TIFF magic", lambda p: _jpeg(p, _exif([_orientation_entry(6)], magic=41))),
        (
            "directory past the end",
            lambda p: _jpeg(p, _exif([_orientation_entry(6)], stated_offset=1 << 30)),
        ),
        (
            "directory offset wrapping negative",
            lambda p: _jpeg(p, _exif([_orientation_entry(6)], stated_offset=(1 << 32) - 4)),
        ),
        ("empty bytes", lambda p: b""),
        ("not a JPEG", lambda p: b"GIF89a" + b"\0" * 40),
        ("cut inside the segment header", lambda p: b"\xff\xd8\xff\xe1\x00"),
        ("cut inside the TIFF header", lambda p: b"\xff\xd8\xff\xe1\x00\x20Exif\0\0MM\0*"),
        ("a segment length of 0", lambda p: b"\xff\xd8\xff\xe0\x00\x00" + b"\xff" * 64),
    ],
)
def test_missing_or_malformed_metadata_reads_as_upright(pixels, description, make):
    contents = make(pixels)
    assert int(exif_orientation(tf.constant(contents))) == 1, description


def test_orientation_beyond_the_header_window_reads_as_upright(pixels):
    # An EXIF segment that starts after HEADER_BYTES of other segments is not looked for.
    filler = b"".join(b"\xff\xfe\xff\xff" + b"x" * 65533 for _ in range(HEADER_BYTES // 65537 + 1))
    app1 = _exif([_orientation_entry(3)])
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + len(app1)) + app1
    contents = b"\xff\xd8" + filler + app1 + _jpeg(pixels)[2:]
    assert Image.open(io.BytesIO(contents)).getexif()[ORIENTATION] == 3
    assert int(exif_orientation(tf.constant(contents))) == 1
