"""EXIF orientation of JPEG bytes, read and applied inside the `tf.data` graph.

Phone cameras store pixels as the sensor saw them and record in the EXIF orientation
tag (0x0112) how to turn them upright. Pillow's `ImageOps.exif_transpose`, which
`preprocess_images` applies to image files, honours it; `tf.io.decode_jpeg` does not,
so a corpus pipeline that decodes with TensorFlow would train on photos lying on their
side. `upright(image, contents)` turns a decoded JPEG upright as Pillow does.

The tag is found without leaving the graph: the JPEG's markers are walked from the
start to the first APP1 segment holding "Exif\\0\\0", whose TIFF header gives the byte
order and the first image file directory (IFD0), whose entries are scanned for the
tag. Every read is a gather with clipped indices from the first `HEADER_BYTES` of the
file, so truncated or malformed metadata reads as orientation 1 (as it is), never as
an error.
"""

import tensorflow as tf

__all__ = ["HEADER_BYTES", "exif_orientation", "upright"]

# APP1 segments are at most 64 KiB and come before the image data; IFD0 sits at the
# start of its segment.
HEADER_BYTES = 1 << 17
_MAX_MARKERS = 32
_EXIF_SIGNATURE = (0x45, 0x78, 0x69, 0x66, 0x00, 0x00)  # "Exif\0\0"
_ORIENTATION_TAG = 0x0112
_MAX_IFD_ENTRIES = 256


def exif_orientation(contents):
    """The EXIF orientation (1-8) of JPEG bytes, 1 when there is none.

    Args:
        contents: a scalar string tensor, the encoded JPEG.

    Returns:
        A scalar int32 tensor: 1 (upright) when the file has no EXIF segment, no
        orientation tag, a value outside 1-8, or metadata that cannot be read.
    """
    head = tf.io.decode_raw(tf.strings.substr(contents, 0, HEADER_BYTES), tf.uint8)
    size = tf.shape(head)[0]
    # One byte more, so that the clipped gathers below have something to read when the
    # file is empty.
    head = tf.concat([tf.cast(head, tf.int32), [0]], axis=0)

    def byte(index):
        index = tf.convert_to_tensor(index, tf.int32)
        inside = (index >= 0) & (index < size)
        return tf.where(inside, tf.gather(head, tf.clip_by_value(index, 0, size)), 0)

    def big_endian_16(index):
        return byte(index) * 256 + byte(index + 1)

    # Walk the markers: each segment is 0xFF, a marker byte and a big-endian length
    # that counts itself. Stop at the first Exif APP1, at the image data (SOS) or at
    # anything that is not a marker.
    def walking(position, found, steps):
        return (found < 0) & (steps < _MAX_MARKERS) & (byte(position) == 0xFF) & (byte(position + 1) != 0xDA)

    def step(position, found, steps):
        length = big_endian_16(position + 2)
        signature = tf.stack([byte(position + 4 + i) for i in range(len(_EXIF_SIGNATURE))])
        is_exif = (byte(position + 1) == 0xE1) & tf.reduce_all(signature == _EXIF_SIGNATURE)
        found = tf.where(is_exif, position + 4 + len(_EXIF_SIGNATURE), found)
        # A length under 2 would loop in place: end the walk.
        position = tf.where(length >= 2, position + 2 + length, size)
        return position, found, steps + 1

    is_jpeg = (byte(0) == 0xFF) & (byte(1) == 0xD8)
    _, tiff, _ = tf.while_loop(walking, step, (tf.where(is_jpeg, 2, size), tf.constant(-1), tf.constant(0)))

    little_endian = (byte(tiff) == 0x49) & (byte(tiff + 1) == 0x49)  # "II"; "MM" is big-endian

    def read(index, width):
        values = [byte(index + i) for i in range(width)]
        big = little = 0
        for first, last in zip(values, values[::-1]):
            big = big * 256 + first
            little = little * 256 + last
        return tf.where(little_endian, little, big)

    # The IFD offset counts from the TIFF header, which takes 8 bytes; offsets of 2**31
    # and more wrap to negative int32 values and fail the test too.
    directory_offset = read(tiff + 4, 4)
    valid_header = (tiff >= 0) & (read(tiff + 2, 2) == 42) & (directory_offset >= 8) & (directory_offset < HEADER_BYTES)
    directory = tiff + directory_offset
    count = tf.minimum(read(directory, 2), _MAX_IFD_ENTRIES)
    entries = directory + 2 + 12 * tf.range(_MAX_IFD_ENTRIES)
    is_orientation = (tf.range(_MAX_IFD_ENTRIES) < count) & (read(entries, 2) == _ORIENTATION_TAG)
    # The value of a SHORT sits in the first two bytes of the entry's value field.
    values = tf.where(is_orientation, read(entries + 8, 2), 0)
    orientation = tf.reduce_max(values)
    usable = valid_header & tf.reduce_any(is_orientation) & (orientation >= 1) & (orientation <= 8)
    return tf.where(usable, orientation, 1)


def upright(image, contents):
    """Turn a decoded JPEG upright by its EXIF orientation, as Pillow's `exif_transpose`.

    Args:
        image: the `(height, width, channels)` tensor `tf.io.decode_jpeg` gave.
        contents: the JPEG bytes it was decoded from.

    Returns:
        The upright image; orientations 5-8 swap height and width.
    """
    flip_rows = lambda x: tf.reverse(x, [0])  # noqa: E731
    flip_columns = lambda x: tf.reverse(x, [1])  # noqa: E731
    transpose = lambda x: tf.transpose(x, [1, 0, 2])  # noqa: E731
    branches = [
        lambda: image,  # 1: upright
        lambda: flip_columns(image),  # 2: mirrored left to right
        lambda: flip_rows(flip_columns(image)),  # 3: rotated 180 degrees
        lambda: flip_rows(image),  # 4: mirrored top to bottom
        lambda: transpose(image),  # 5: mirrored along the main diagonal
        lambda: flip_columns(transpose(image)),  # 6: turned 90 degrees clockwise to be upright
        lambda: flip_rows(flip_columns(transpose(image))),  # 7: mirrored along the other diagonal
        lambda: flip_rows(transpose(image)),  # 8: turned 90 degrees anticlockwise to be upright
    ]
    return tf.switch_case(exif_orientation(contents) - 1, branches)
