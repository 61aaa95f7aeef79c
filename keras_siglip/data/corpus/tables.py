"""Caption tables: a CSV, TSV or Parquet table of image paths and captions, next to a
folder of images."""

import csv
import functools
import os

import tensorflow as tf

from keras_siglip.data.corpus import stages
from keras_siglip.data.corpus.stages import OK, STATUS

TABLE_EXTENSIONS = (".csv", ".tsv", ".parquet")


def caption_table_corpus(
    table,
    preprocessor,
    batch_size,
    image_root=None,
    image_column="image",
    caption_column="caption",
    shuffle_buffer=1000,
    repeat=False,
    drop_remainder=True,
    seed=None,
    shard=None,
    skipped=None,
    files_in_parallel=4,
    keep=None,
    max_image_pixels=stages.MAX_IMAGE_PIXELS,
):
    """Batches from a CSV, TSV or Parquet table of image paths and captions.

    The table is streamed (Python's `csv` module; Parquet through pyarrow, the
    `keras-siglip[parquet]` extra), the images are read in parallel. Image paths are
    relative to `image_root` unless absolute; an empty path counts as
    "missing_image", an empty (Parquet: null) caption as "missing_caption" or
    "empty_caption", a file that cannot be read as "unreadable_file".

    Args:
        table: a `.csv`, `.tsv` or `.parquet` file with a header, a glob or a list
            of them. Several tables are split between processes by file; one table
            by rows (process `index` takes rows `index, index + count, ...`).
        preprocessor, batch_size: as in `webdataset_corpus`.
        image_root: the folder image paths are relative to (default: the folder of
            each table).
        image_column: the column of image paths.
        caption_column: the column of captions.
        shuffle_buffer, repeat, drop_remainder, seed, shard, skipped,
            files_in_parallel, max_image_pixels: as in `webdataset_corpus`
            (`files_in_parallel` tables
            are streamed at the same time).
        keep: as in `webdataset_corpus`; a row's key is its image path as the
            table writes it (before `image_root`), so an image's captions share it.

    Returns:
        A `tf.data.Dataset` of `{"images", "token_ids"}` batches, with the
        `SkippedSamples` as its `skipped` attribute and a `close()`; it raises when
        a whole pass gives no usable sample, as `webdataset_corpus`'s does.

    Example:

    >>> from keras_siglip.data import write_caption_table
    >>> table = write_caption_table(folder, images, captions)  # doctest: +SKIP
    >>> dataset = caption_table_corpus(table, preprocessor, batch_size=32)  # doctest: +SKIP
    """
    settings = stages.Settings(
        preprocessor,
        batch_size,
        shuffle_buffer,
        repeat,
        drop_remainder,
        seed,
        skipped,
        files_in_parallel,
        max_image_pixels,
    )
    tables = stages.list_files(table, TABLE_EXTENSIONS, "table")
    if image_root is not None and not tf.io.gfile.isdir(os.fspath(image_root)):
        raise ValueError(
            f"`image_root` must be a folder of images, got {image_root!r}, which is not a folder."
        )
    for path in tables:
        check_columns(path, image_column, caption_column)
    index, count = stages.process_shard(shard)
    if len(tables) == 1:
        row_shard = (index, count)
    else:
        tables, row_shard = stages.shard_files(tables, (index, count)), (0, 1)
    settings.files = tables
    roots = [
        os.fspath(image_root) if image_root is not None else os.path.dirname(path)
        for path in tables
    ]

    read_table = functools.partial(
        _table_samples, keep=stages.check_keep(keep), stop=settings.closing.stop
    )

    def read_file(path, root):
        rows = tf.data.Dataset.from_generator(
            read_table,
            args=(path, root, image_column, caption_column, row_shard[0], row_shard[1]),
            output_signature=stages.RAW_SIGNATURE,
        )
        return rows.unbatch()

    rows = stages.interleave(
        stages.file_dataset((tables, roots), settings), read_file, len(tables), settings
    )

    def read(sample):
        contents = tf.cond(
            sample["status"] == OK,
            lambda: tf.io.read_file(sample["image"]),
            lambda: tf.constant(""),
        )
        return {**sample, "image": contents}

    def read_images(rows):
        return stages.map_skipping_errors(rows, read, "unreadable_file", settings.skipped)

    # The images are read after the shuffle: its buffer holds paths, not image bytes.
    return stages.batches(rows, settings, after_shuffle=read_images)


def _table_samples(
    path, image_root, image_column, caption_column, shard_index, shard_count, keep=None, stop=None
):
    """Chunks of raw rows of one caption table (runs in Python); with `keep`, only the
    rows whose image path it accepts. It returns early once `stop()` is true (the
    corpus was closed)."""
    path, image_root, image_column, caption_column = (
        value.decode() if isinstance(value, bytes) else value
        for value in (path, image_root, image_column, caption_column)
    )
    chunk = stages.Chunk()
    try:
        for row, (image, caption) in enumerate(table_rows(path, image_column, caption_column)):
            if stop is not None and stop():
                return
            if row % shard_count != shard_index:
                continue
            if keep is not None and not keep(image if isinstance(image, str) else ""):
                continue
            if not isinstance(image, str) or not image:
                status, image = STATUS["missing_image"], ""
            elif caption is None:
                status, caption = STATUS["missing_caption"], ""
            elif not isinstance(caption, str):
                status, caption = STATUS["bad_caption"], ""
            else:
                status = OK
            if image and not os.path.isabs(image) and "://" not in image:
                image = os.path.join(image_root, image)
            chunk.add(
                image.encode("utf-8", "surrogatepass"),
                caption.encode("utf-8", "surrogatepass"),
                status,
            )
            if len(chunk) == stages.GENERATOR_CHUNK:
                yield chunk.arrays()
    except (OSError, csv.Error, UnicodeDecodeError, tf.errors.OpError, _arrow_errors()):
        chunk.add(b"", b"", STATUS["unreadable_file"])
    if len(chunk):
        yield chunk.arrays()


def table_rows(path, image_column, caption_column):
    """`(image path, caption)` of each row; `None` for a null Parquet cell."""
    if path.lower().endswith(".parquet"):
        table = pyarrow_parquet().ParquetFile(path)
        for batch in table.iter_batches(batch_size=1024, columns=[image_column, caption_column]):
            images, captions = batch.column(0).to_pylist(), batch.column(1).to_pylist()
            yield from zip(images, captions)
        return
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    with tf.io.gfile.GFile(path, "r") as file:
        reader = csv.DictReader(file, delimiter=delimiter)
        for row in reader:
            yield row.get(image_column), row.get(caption_column)


def check_columns(path, image_column, caption_column):
    """Raises a ValueError unless both columns are in the header of the table `path`."""
    for name, value in (("image_column", image_column), ("caption_column", caption_column)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"`{name}` must be a column name (a non-empty string), got {value!r}.")
    if path.lower().endswith(".parquet"):
        columns = pyarrow_parquet().ParquetFile(path).schema_arrow.names
    else:
        delimiter = "\t" if path.lower().endswith(".tsv") else ","
        with tf.io.gfile.GFile(path, "r") as file:
            columns = next(csv.reader(file, delimiter=delimiter), [])
    for name, value in (("image_column", image_column), ("caption_column", caption_column)):
        if value not in columns:
            raise ValueError(
                f"`{name}` {value!r} is not a column of the table {path!r}; "
                f"its columns are {columns}."
            )


def pyarrow_parquet():
    """`pyarrow.parquet`, an optional dependency, or an ImportError that says how to
    install it."""
    try:
        import pyarrow.parquet
    except ImportError:
        raise ImportError(
            "Reading Parquet caption tables needs pyarrow: pip install 'keras-siglip[parquet]'."
        ) from None
    return pyarrow.parquet


def _arrow_errors():
    try:
        import pyarrow
    except ImportError:
        return OSError
    return pyarrow.ArrowException
