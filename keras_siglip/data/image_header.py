"""Image dimensions read from the encoded bytes' header, before anything is decoded.

A corpus can hold an image whose header promises billions of pixels in a few
kilobytes (a solid colour compresses to almost nothing); decoding it would allocate
them all. `image_size` reads `(width, height)` from the header of a PNG, JPEG, WebP,
GIF or BMP, so that the corpus readers skip such images without decoding them.
"""

import struct

__all__ = ["image_pixels", "image_size"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...); not
# 0xC4 (Huffman tables), 0xC8 (reserved) or 0xCC (arithmetic conditioning).
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0-7, SOI, EOI.
_JPEG_STANDALONE_MARKERS = frozenset([0x01, *range(0xD0, 0xD8), 0xD8, 0xD9])
_JPEG_START_OF_SCAN = 0xDA


def image_size(contents):
    """`(width, height)` of encoded image bytes, from their header; `None` when the
    bytes are no PNG, JPEG, WebP, GIF or BMP, or their header is cut short.

    Args:
        contents: the encoded image (`bytes`).

    Example:

    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.new("RGB", (30, 20)).save(buffer, "PNG")
    >>> image_size(buffer.getvalue())
    (30, 20)
    """
    contents = bytes(contents)
    try:
        if contents.startswith(_PNG_SIGNATURE):
            return _png(contents)
        if contents.startswith(b"\xff\xd8"):
            return _jpeg(contents)
        if contents[:4] == b"RIFF" and contents[8:12] == b"WEBP":
            return _webp(contents)
        if contents[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", contents[6:10])
        if contents.startswith(b"BM"):
            return _bmp(contents)
    except (struct.error, IndexError):  # a header cut short
        return None
    return None


def image_pixels(contents):
    """`width * height` from the header (see `image_size`), -1 when unknown."""
    size = image_size(contents)
    return -1 if size is None else size[0] * size[1]


def _png(contents):
    # The IHDR chunk comes first: length (4), type (4), width (4), height (4).
    if contents[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", contents[16:24])


def _jpeg(contents):
    position = 2
    while position < len(contents):
        if contents[position] != 0xFF:
            return None
        while position < len(contents) and contents[position] == 0xFF:  # fill bytes
            position += 1
        marker = contents[position]
        position += 1
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker == _JPEG_START_OF_SCAN:
            return None  # compressed data began before any frame header
        (length,) = struct.unpack(">H", contents[position : position + 2])
        if marker in _JPEG_FRAME_MARKERS:
            # length (2), sample precision (1), height (2), width (2)
            height, width = struct.unpack(">HH", contents[position + 3 : position + 7])
            return width, height
        position += length
    return None


def _webp(contents):
    chunk = contents[12:16]
    if chunk == b"VP8 ":
        # Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
        if contents[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", contents[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        # Signature 0x2f, then width - 1 and height - 1 in 14 bits each.
        if contents[20] != 0x2F:
            return None
        (bits,) = struct.unpack("<I", contents[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        # Flags (4 bytes), then canvas width - 1 and height - 1 in 24 bits each.
        width = int.from_bytes(contents[24:27], "little") + 1
        height = int.from_bytes(contents[27:30], "little") + 1
        if len(contents) < 30:
            return None
        return width, height
    return None


def _bmp(contents):
    (header_size,) = struct.unpack("<I", contents[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        return struct.unpack("<HH", contents[18:22])
    width, height = struct.unpack("<ii", contents[18:26])
    return abs(width), abs(height)  # a negative height means rows stored top-down
