"""Telling the corpus formats apart by file name: `open_corpus`, `corpus_files`,
`corpus_captions`."""

import os

import tensorflow as tf

from keras_siglip.data.corpus import stages, tables, tfrecord, webdataset
from keras_siglip.data.corpus.stages import OK
from keras_siglip.data.corpus.tables import caption_table_corpus
from keras_siglip.data.corpus.tfrecord import tfrecord_corpus
from keras_siglip.data.corpus.webdataset import webdataset_corpus
from keras_siglip.validation import check_positive_int

# In order of preference when a folder holds several.
FORMATS = {
    "webdataset": (".tar",),
    "tfrecord": tfrecord.TFRECORD_EXTENSIONS,
    "caption_table": tables.TABLE_EXTENSIONS,
}


def open_corpus(
    path_or_glob,
    preprocessor,
    batch_size,
    image_root=None,
    max_image_pixels=stages.MAX_IMAGE_PIXELS,
    max_member_bytes=stages.MAX_MEMBER_BYTES,
    **options,
):
    """Batches from a corpus in any of the three formats, told apart by file name.

    `.tar` files are read by `webdataset_corpus`, `.tfrecord` / `.tfrecords` /
    `.tfrec` by `tfrecord_corpus`, `.csv` / `.tsv` / `.parquet` by
    `caption_table_corpus` (with `image_root`). A folder is read in that order of
    preference: img2dataset's output folder holds `.tar` shards next to `.parquet`
    metadata, and the shards are what is read. A glob must match one format.

    Args:
        path_or_glob: a file, a folder or a glob.
        preprocessor, batch_size: as in `webdataset_corpus`.
        image_root: for caption tables, the folder of the images.
        max_image_pixels: images whose header promises more pixels are skipped
            undecoded (default 89,478,485, Pillow's limit), in every format.
        max_member_bytes: tar members larger than this are skipped unread (default
            64 MiB); for `.tar` shards only.
        **options: passed on to the format's function: `shuffle_buffer`,
            `repeat`, `seed`, ... and `keep`, a function `key -> bool` that
            chooses the samples read by their key (a tar member's key, a table's
            image path, a TFRecord's `"NAME:INDEX"`), e.g. a validation hold-out's
            `HoldOut.keep` for training and, for its validation pairs,
            `keep=HoldOut.is_validation, repeat=False, shuffle_buffer=0,
            drop_remainder=False`.

    Returns:
        The format's dataset.

    Example:

    >>> dataset = open_corpus(  # doctest: +SKIP
    ...     "corpus/*.tar", preprocessor, batch_size=64, repeat=True
    ... )
    """
    corpus_format, files = corpus_files(path_or_glob)
    options["max_image_pixels"] = max_image_pixels
    if corpus_format == "caption_table":
        return caption_table_corpus(
            files, preprocessor, batch_size, image_root=image_root, **options
        )
    if image_root is not None:
        raise ValueError(
            f"`image_root` is for caption tables, but {path_or_glob!r} holds {corpus_format} "
            "files, which carry their images."
        )
    if corpus_format == "webdataset":
        return webdataset_corpus(
            files, preprocessor, batch_size, max_member_bytes=max_member_bytes, **options
        )
    return tfrecord_corpus(files, preprocessor, batch_size, **options)


def corpus_files(path_or_glob):
    """`(format, sorted files)` of a corpus: "webdataset", "tfrecord" or "caption_table".

    Example:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("00000.tar", "00001.tar", "00000.parquet"):
    ...     open(os.path.join(folder, name), "wb").close()
    >>> corpus_format, files = corpus_files(folder)
    >>> corpus_format, [os.path.basename(f) for f in files]
    ('webdataset', ['00000.tar', '00001.tar'])
    """
    candidates = stages.expand(path_or_glob, "path_or_glob")
    by_format = {
        name: [f for f in candidates if f.lower().endswith(ends)] for name, ends in FORMATS.items()
    }
    found = [name for name, names in by_format.items() if names]
    if not found:
        raise ValueError(
            f"`path_or_glob` {path_or_glob!r} matches no corpus file: expected .tar shards, "
            f"TFRecord files ({', '.join(tfrecord.TFRECORD_EXTENSIONS)}) or a caption table "
            f"({', '.join(tables.TABLE_EXTENSIONS)}); found {stages.describe(candidates)}."
        )
    is_folder = isinstance(path_or_glob, (str, os.PathLike)) and tf.io.gfile.isdir(
        os.fspath(path_or_glob)
    )
    if len(found) > 1 and not is_folder:
        raise ValueError(
            f"`path_or_glob` {path_or_glob!r} matches files of several formats "
            f"({', '.join(found)}); narrow it to one, e.g. 'folder/*.tar'."
        )
    return found[0], by_format[found[0]]


def corpus_captions(
    path_or_glob,
    limit=None,
    image_column="image",
    caption_column="caption",
    caption_feature="caption",
):
    """The usable captions of a corpus, in file order, as Python strings.

    For training a vocabulary on the corpus (`train_sentencepiece`): only the
    captions are decoded, images are not. Samples the pipelines would skip for a
    missing or broken caption are left out here too.

    Args:
        path_or_glob: as in `open_corpus`.
        limit: stop after this many captions (default: all).
        image_column, caption_column: for caption tables.
        caption_feature: for TFRecord files.

    Example:

    >>> import tempfile, numpy as np
    >>> from keras_siglip.data import write_webdataset
    >>> paths = write_webdataset(
    ...     tempfile.mkdtemp(), np.zeros((3, 4, 4, 3), "uint8"), ["a cat", "a dog", None]
    ... )
    >>> corpus_captions(paths[0])
    ['a cat', 'a dog']
    """
    if limit is not None:
        check_positive_int("limit", limit)
    corpus_format, files = corpus_files(path_or_glob)
    if corpus_format == "webdataset":
        chunks = (chunk for path in files for chunk in webdataset.tar_samples(path))
        candidates = (
            caption
            for chunk in chunks
            for caption, status in zip(chunk["caption"], chunk["status"])
            if status == OK
        )
    elif corpus_format == "tfrecord":
        candidates = tfrecord.tfrecord_captions(files, caption_feature)
    else:
        for path in files:
            tables.check_columns(path, image_column, caption_column)
        rows = (
            row for path in files for row in tables.table_rows(path, image_column, caption_column)
        )
        candidates = (caption for _, caption in rows if isinstance(caption, str))
    captions = []
    for caption in candidates:
        if isinstance(caption, bytes):
            try:
                caption = caption.decode("utf-8")
            except UnicodeDecodeError:
                continue
        if caption.strip():
            captions.append(caption)
            if limit is not None and len(captions) == limit:
                break
    return captions
