"""Writing image-caption corpora in the formats `keras_siglip.data.corpus` reads.

WebDataset tar shards (img2dataset's layout: `NNNNNNNNN.jpg` and `NNNNNNNNN.txt` per
sample), TFRecord files of `tf.train.Example`s, and a CSV, TSV or Parquet caption table
next to a folder of images. `keras-siglip export-corpus` writes the embedded dataset
with them; the tests make their fixtures with them.
"""

import csv
import io
import json
import os
import tarfile

import numpy as np
import tensorflow as tf
from PIL import Image

from keras_siglip.data.corpus.tables import pyarrow_parquet
from keras_siglip.validation import check_positive_int

IMAGE_FORMATS = {"jpeg": "jpg", "png": "png", "webp": "webp"}
TABLE_FORMATS = ("csv", "tsv", "parquet")
CORPUS_FORMATS = ("webdataset", "tfrecord") + TABLE_FORMATS


def write_webdataset(
    directory,
    images,
    captions,
    samples_per_shard=1000,
    image_format="jpeg",
    caption_format="txt",
    quality=95,
):
    """Writes samples as WebDataset tar shards `directory/00000.tar`, `00001.tar`, ...

    Each sample is `KEY.jpg` (or `.png`, `.webp`) and `KEY.txt`, or with
    `caption_format="json"` a `KEY.json` holding `{"caption": ...}` as img2dataset
    writes it; `KEY` is the sample's index, 9 digits.

    Args:
        directory: the folder to write into (created if needed).
        images: uint8 images, an array `(N, H, W, C)` or a list of `(H, W, C)` or
            `(H, W)` arrays, `C` 1 to 4.
        captions: one string per image; `None` writes no caption for that sample.
        samples_per_shard: samples in each tar file.
        image_format: "jpeg", "png" or "webp".
        caption_format: "txt" or "json".
        quality: JPEG and WebP quality, 1 to 100.

    Returns:
        The paths of the shards written, in order.

    Example:

    >>> import tempfile, numpy as np
    >>> images = np.zeros((5, 8, 8, 3), "uint8")
    >>> paths = write_webdataset(tempfile.mkdtemp(), images, ["a"] * 5, samples_per_shard=2)
    >>> [os.path.basename(p) for p in paths]
    ['00000.tar', '00001.tar', '00002.tar']
    """
    if caption_format not in ("txt", "json"):
        raise ValueError(f'`caption_format` must be "txt" or "json", got {caption_format!r}.')
    samples = _Samples(images, captions, image_format, quality)
    check_positive_int("samples_per_shard", samples_per_shard)
    tf.io.gfile.makedirs(os.fspath(directory))
    paths = []
    for shard, start in enumerate(range(0, len(samples), samples_per_shard)):
        path = os.path.join(os.fspath(directory), f"{shard:05d}.tar")
        with tf.io.gfile.GFile(path, "wb") as file, tarfile.open(fileobj=file, mode="w") as archive:
            for index in range(start, min(start + samples_per_shard, len(samples))):
                key = f"{index:09d}"
                _add_member(archive, f"{key}.{samples.extension}", samples.encoded_image(index))
                caption = samples.captions[index]
                if caption is None:
                    continue
                if caption_format == "txt":
                    _add_member(archive, f"{key}.txt", caption.encode("utf-8"))
                else:
                    _add_member(
                        archive,
                        f"{key}.json",
                        json.dumps({"caption": caption, "key": key}).encode("utf-8"),
                    )
        paths.append(path)
    return paths


def write_tfrecord(
    directory,
    images,
    captions,
    samples_per_file=1000,
    image_format="jpeg",
    image_feature="image",
    caption_feature="caption",
    quality=95,
):
    """Writes samples as TFRecord files `directory/00000.tfrecord`, ...

    Each record is a `tf.train.Example` with the encoded image in the bytes feature
    `image_feature` and the UTF-8 caption in `caption_feature` (left out when the
    caption is `None`).

    Args:
        directory, images, captions, image_format, quality: as in `write_webdataset`.
        samples_per_file: records in each file.
        image_feature: name of the image feature.
        caption_feature: name of the caption feature.

    Returns:
        The paths of the files written, in order.

    Example:

    >>> import tempfile, numpy as np
    >>> paths = write_tfrecord(tempfile.mkdtemp(), np.zeros((3, 8, 8, 3), "uint8"), ["a", "b", "c"])
    >>> [os.path.basename(p) for p in paths]
    ['00000.tfrecord']
    """
    samples = _Samples(images, captions, image_format, quality)
    check_positive_int("samples_per_file", samples_per_file)
    tf.io.gfile.makedirs(os.fspath(directory))
    paths = []
    for number, start in enumerate(range(0, len(samples), samples_per_file)):
        path = os.path.join(os.fspath(directory), f"{number:05d}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for index in range(start, min(start + samples_per_file, len(samples))):
                feature = {image_feature: _bytes_feature(samples.encoded_image(index))}
                if samples.captions[index] is not None:
                    feature[caption_feature] = _bytes_feature(
                        samples.captions[index].encode("utf-8")
                    )
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
        paths.append(path)
    return paths


def write_caption_table(
    directory,
    images,
    captions,
    table_format="csv",
    image_format="jpeg",
    image_column="image",
    caption_column="caption",
    quality=95,
):
    """Writes images to `directory/images/` and a table of their paths and captions.

    The table is `directory/captions.csv` (or `.tsv`, `.parquet`), with a header;
    image paths are relative to `directory`, so it is the table's `image_root`.
    A `None` caption is an empty cell (CSV, TSV) or a null (Parquet).

    Args:
        directory, images, captions, image_format, quality: as in `write_webdataset`.
        table_format: "csv", "tsv" or "parquet" (needs pyarrow:
            `keras-siglip[parquet]`).
        image_column: header of the image path column.
        caption_column: header of the caption column.

    Returns:
        The path of the table.

    Example:

    >>> import tempfile, numpy as np
    >>> table = write_caption_table(tempfile.mkdtemp(), np.zeros((2, 8, 8, 3), "uint8"), ["a", "b"])
    >>> os.path.basename(table), sorted(os.listdir(os.path.join(os.path.dirname(table), "images")))
    ('captions.csv', ['000000000.jpg', '000000001.jpg'])
    """
    if table_format not in TABLE_FORMATS:
        raise ValueError(f"`table_format` must be one of {TABLE_FORMATS}, got {table_format!r}.")
    samples = _Samples(images, captions, image_format, quality)
    directory = os.fspath(directory)
    tf.io.gfile.makedirs(os.path.join(directory, "images"))
    image_paths = []
    for index in range(len(samples)):
        relative = f"images/{index:09d}.{samples.extension}"
        with tf.io.gfile.GFile(os.path.join(directory, relative), "wb") as file:
            file.write(samples.encoded_image(index))
        image_paths.append(relative)
    path = os.path.join(directory, f"captions.{table_format}")
    if table_format == "parquet":
        parquet = pyarrow_parquet()
        import pyarrow  # the optional dependency, present once pyarrow_parquet() returned

        table = pyarrow.table(
            {
                image_column: image_paths,
                caption_column: pyarrow.array(samples.captions, pyarrow.string()),
            }
        )
        parquet.write_table(table, path)
        return path
    with tf.io.gfile.GFile(path, "w") as file:
        writer = csv.writer(
            file, delimiter="\t" if table_format == "tsv" else ",", lineterminator="\n"
        )
        writer.writerow([image_column, caption_column])
        for image_path, caption in zip(image_paths, samples.captions):
            writer.writerow([image_path, "" if caption is None else caption])
    return path


def write_corpus(directory, corpus_format, images, captions, **options):
    """Writes samples in `corpus_format`: one of `CORPUS_FORMATS`.

    "webdataset" calls `write_webdataset`, "tfrecord" `write_tfrecord`, "csv",
    "tsv" and "parquet" `write_caption_table`; `options` go to that function.

    Returns:
        The paths written (shards, files, or the table), as a list.
    """
    if corpus_format == "webdataset":
        return write_webdataset(directory, images, captions, **options)
    if corpus_format == "tfrecord":
        return write_tfrecord(directory, images, captions, **options)
    if corpus_format in TABLE_FORMATS:
        return [
            write_caption_table(directory, images, captions, table_format=corpus_format, **options)
        ]
    raise ValueError(f"`corpus_format` must be one of {CORPUS_FORMATS}, got {corpus_format!r}.")


def encode_image(image, image_format="jpeg", quality=95):
    """The bytes of a uint8 `(H, W)` or `(H, W, C)` image encoded as JPEG, PNG or WebP.

    JPEG has no alpha: RGBA and grey+alpha images are composited over white first,
    as `preprocess_images` would.

    Example:

    >>> import numpy as np
    >>> encode_image(np.zeros((4, 4, 3), "uint8"), "png")[:4]
    b'\\x89PNG'
    """
    if image_format not in IMAGE_FORMATS:
        raise ValueError(
            f"`image_format` must be one of {tuple(IMAGE_FORMATS)}, got {image_format!r}."
        )
    array = np.asarray(image)
    if (
        array.dtype != np.uint8
        or array.ndim not in (2, 3)
        or (array.ndim == 3 and array.shape[-1] not in (1, 2, 3, 4))
    ):
        raise ValueError(
            "Each image must be uint8, (H, W) or (H, W, C) with C in 1 to 4; got dtype "
            f"{array.dtype} and shape {array.shape}."
        )
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    picture = Image.fromarray(array)
    if image_format == "jpeg" and picture.mode in ("LA", "RGBA"):
        background = Image.new(picture.mode, picture.size, "white")
        picture = Image.alpha_composite(
            background.convert("RGBA"), picture.convert("RGBA")
        ).convert("RGB")
    buffer = io.BytesIO()
    options = {"quality": quality} if image_format in ("jpeg", "webp") else {}
    if image_format == "webp":
        options["lossless"] = False
    picture.save(buffer, format=image_format.upper(), **options)
    return buffer.getvalue()


class _Samples:
    """Images and captions checked once, images encoded on demand."""

    def __init__(self, images, captions, image_format, quality):
        if image_format not in IMAGE_FORMATS:
            raise ValueError(
                f"`image_format` must be one of {tuple(IMAGE_FORMATS)}, got {image_format!r}."
            )
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise ValueError(f"`quality` must be an integer from 1 to 100, got {quality!r}.")
        if isinstance(captions, str) or not hasattr(captions, "__len__"):
            raise TypeError(
                f"`captions` must be a list of strings (or None), got {type(captions).__name__}."
            )
        captions = list(captions)
        for index, caption in enumerate(captions):
            if caption is not None and not isinstance(caption, str):
                raise TypeError(
                    f"`captions[{index}]` must be a string or None, got {type(caption).__name__}."
                )
        if len(images) != len(captions):
            raise ValueError(
                f"`images` has {len(images)} images but `captions` has {len(captions)} captions."
            )
        self.images = images
        self.captions = captions
        self.image_format = image_format
        self.extension = IMAGE_FORMATS[image_format]
        self.quality = quality

    def __len__(self):
        return len(self.captions)

    def encoded_image(self, index):
        return encode_image(self.images[index], self.image_format, self.quality)


def _add_member(archive, name, contents):
    info = tarfile.TarInfo(name)
    info.size = len(contents)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(contents))


def _bytes_feature(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
