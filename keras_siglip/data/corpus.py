"""Input pipelines for image-caption corpora on disk, for `model.fit` on any backend.

One function per format, each returning a `tf.data.Dataset` of model-ready batches
`{"images": (batch, size, size, 3) float32 in [-1, 1], "token_ids": (batch, length) int32}`:

- `webdataset_corpus`: WebDataset tar shards, as img2dataset writes them (`KEY.jpg`
  with `KEY.txt`, or a `KEY.json` holding a "caption");
- `tfrecord_corpus`: TFRecord files of `tf.train.Example`s with an encoded image and
  a caption;
- `caption_table_corpus`: a CSV, TSV or Parquet table of image paths and captions,
  next to a folder of images.

`open_corpus(path_or_glob, ...)` picks the format from the file names.

Every format goes through the same stages: the files, split between processes and
shuffled, are read a few at a time (`interleave`); the raw samples (encoded image
bytes and caption) pass a shuffle buffer; then images are decoded, squash-resized with
antialiasing to `[-1, 1]` and captions tokenised by the preprocessor's `SigLIPTokenizer`,
in parallel inside the `tf.data` graph (JPEGs turned upright by their EXIF
orientation, CMYK JPEGs converted to RGB, as Pillow does for image files); batches are
prefetched. Nothing is held in
memory beyond the buffers.

A sample that cannot be used (unreadable file, image bytes that do not decode, no
caption, a caption that is empty after canonicalisation...) is skipped and counted by
reason in a `SkippedSamples`, never raised: one bad JPEG must not end a long run.
"""

import csv
import io
import json
import os
import tarfile

import numpy as np
import tensorflow as tf

from keras_siglip.data.exif import upright
from keras_siglip.preprocessing import SigLIPPreprocessor
from keras_siglip.preprocessing.image import rgb_over_white, preprocess_decoded
from keras_siglip.validation import check_positive_int

# Why a sample was skipped, in the order of `SkippedSamples.counts()`.
REASONS = (
    "unreadable_file",  # a file that cannot be read, or a shard cut short (counted once)
    "bad_record",  # a TFRecord record that is not a tf.train.Example with string features
    "missing_image",  # a caption without an image
    "bad_image",  # image bytes that do not decode
    "missing_caption",  # an image without a caption
    "bad_caption",  # a caption that is not UTF-8 text (or a .json that is not JSON)
    "empty_caption",  # a caption with no words left after canonicalisation
)
_OK = 0
_STATUS = {reason: code for code, reason in enumerate(REASONS, start=1)}
# Marks the end of a file or of the whole stream; never a sample, never counted.
_END = len(REASONS) + 1

WEBDATASET_IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "gif", "bmp")
TFRECORD_EXTENSIONS = (".tfrecord", ".tfrecords", ".tfrec")
TABLE_EXTENSIONS = (".csv", ".tsv", ".parquet")
FORMATS = {
    "webdataset": (".tar",),
    "tfrecord": TFRECORD_EXTENSIONS,
    "caption_table": TABLE_EXTENSIONS,
}
# A TFRecord frame around each record: length (8 bytes), its CRC (4), data, data CRC (4).
_TFRECORD_FRAME_BYTES = 16
# Samples a reading generator hands to TensorFlow at once: one Python call per chunk
# instead of one per sample.
_GENERATOR_CHUNK = 64
_RAW_SIGNATURE = {
    "image": tf.TensorSpec([None], tf.string),
    "caption": tf.TensorSpec([None], tf.string),
    "status": tf.TensorSpec([None], tf.int32),
}


class SkippedSamples:
    """How many samples a corpus pipeline read, and how many it skipped, by reason.

    The counts are `tf.Variable`s that the pipeline updates as it runs: read them
    during `fit` (from a callback) or after. Reasons are `REASONS`:
    "unreadable_file" (a file that cannot be read, or a shard or TFRecord file that
    is cut short or corrupt: counted once per file, the samples it held are lost),
    "bad_record", "missing_image", "bad_image", "missing_caption", "bad_caption",
    "empty_caption". Every corpus function counts into the one you pass as
    `skipped`, or a new one, available as the dataset's `skipped` attribute.

    Example:

    >>> skipped = SkippedSamples()
    >>> skipped.read, skipped.skipped, str(skipped)
    (0, 0, 'read 0 samples, skipped 0')
    """

    def __init__(self):
        with tf.device("/CPU:0"):
            # Slot 0 counts every sample read, the others the skipped ones by reason.
            self._counts = tf.Variable(
                tf.zeros([len(REASONS) + 1], tf.int64), trainable=False, name="corpus_samples"
            )

    @property
    def read(self):
        """Samples the pipeline is done with, used or skipped (not those still in
        its shuffle buffer)."""
        return int(self._counts[0].numpy())

    @property
    def skipped(self):
        """Samples skipped, all reasons together."""
        return int(self._counts[1:].numpy().sum())

    def counts(self):
        """`{reason: count}` for every reason in `REASONS`."""
        values = self._counts.numpy()
        return {reason: int(values[code]) for reason, code in _STATUS.items()}

    def reset(self):
        self._counts.assign(tf.zeros_like(self._counts))

    def __str__(self):
        values = self._counts.numpy()  # one read: the pipeline may be updating them
        reasons = ", ".join(f"{values[code]:,} {reason}" for reason, code in _STATUS.items() if values[code])
        summary = f"read {values[0]:,} samples, skipped {values[1:].sum():,}"
        return summary + (f" ({reasons})" if reasons else "")

    def __repr__(self):
        return f"<SkippedSamples {self}>"

    def _add(self, read, status_counts):
        """In the graph: add `read` samples read and `status_counts[code]` by status."""
        increments = tf.concat([[tf.cast(read, tf.int64)], tf.cast(status_counts[1 : len(REASONS) + 1], tf.int64)], 0)
        return self._counts.assign_add(increments)


# --- The three formats -------------------------------------------------------------


def webdataset_corpus(
    files,
    preprocessor,
    batch_size,
    shuffle_buffer=1000,
    repeat=False,
    drop_remainder=True,
    seed=None,
    shard=None,
    skipped=None,
    files_in_parallel=4,
):
    """Batches from WebDataset tar shards (img2dataset's output format).

    A sample is the run of consecutive tar members sharing a key (the member name up
    to the first dot of its base name): an image `KEY.jpg`, `.jpeg`, `.png`, `.webp`,
    `.gif` or `.bmp` (the first frame of an animation), and a caption `KEY.txt`
    (UTF-8), or else the "caption" string of `KEY.json`. Other members (img2dataset's
    metadata) are ignored.

    Args:
        files: a tar file, a folder of them, a glob (`"shards/*.tar"`, `gs://` paths
            work through `tf.io.gfile`) or a list of those.
        preprocessor: the `SigLIPPreprocessor` of the model: its `image_size` and
            tokenizer are applied to every sample.
        batch_size: samples per batch (per process, when several processes share the
            files).
        shuffle_buffer: samples in the shuffle buffer (encoded bytes, so cheap); 0 or
            1 keeps the file order. Files are shuffled too, unless it is 0 or 1.
        repeat: read the files again forever (for `fit(steps_per_epoch=...)`);
            otherwise one pass per iteration of the dataset.
        drop_remainder: drop a last, smaller batch (the sigmoid loss is defined for
            any batch, but a batch of another size recompiles the step).
        seed: seed of the file and sample shuffles.
        shard: `(index, count)`: this process reads files `index, index + count,
            ...` of the sorted list. By default the JAX process index and count when
            JAX runs several processes, else all files.
        skipped: a `SkippedSamples` to count into (default: a new one).
        files_in_parallel: shards read at the same time.

    Returns:
        A `tf.data.Dataset` of `{"images", "token_ids"}` batches, with the
        `SkippedSamples` as its `skipped` attribute.

    Example:

    >>> import tempfile, numpy as np
    >>> from keras_siglip.data import write_webdataset
    >>> from keras_siglip.preprocessing import SigLIPTokenizer, train_sentencepiece
    >>> captions = ["a red circle", "a blue square", "a red square", "a blue circle"]
    >>> tokenizer = SigLIPTokenizer(train_sentencepiece(captions * 4, 16), sequence_length=8)
    >>> images = np.zeros((4, 40, 30, 3), "uint8")
    >>> paths = write_webdataset(tempfile.mkdtemp(), images, captions + ["!"], samples_per_shard=2)
    Traceback (most recent call last):
    ...
    ValueError: `images` has 4 images but `captions` has 5 captions.
    >>> paths = write_webdataset(tempfile.mkdtemp(), images, captions[:3] + ["!"], samples_per_shard=2)
    >>> dataset = webdataset_corpus(paths, SigLIPPreprocessor(tokenizer, 16), batch_size=3)
    >>> [batch["images"].shape for batch in dataset.as_numpy_iterator()]
    [(3, 16, 16, 3)]
    >>> print(dataset.skipped)
    read 4 samples, skipped 1 (1 empty_caption)
    """
    settings = _Settings(preprocessor, batch_size, shuffle_buffer, repeat, drop_remainder, seed, skipped, files_in_parallel)
    paths = _shard(_list_files(files, (".tar",), "files"), shard)
    file_names = _file_dataset(paths, settings)
    samples = file_names.interleave(
        lambda path: tf.data.Dataset.from_generator(
            _tar_samples, args=(path,), output_signature=_RAW_SIGNATURE
        ).unbatch(),
        cycle_length=min(files_in_parallel, len(paths)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return _batches(samples, settings)


def tfrecord_corpus(
    files,
    preprocessor,
    batch_size,
    image_feature="image",
    caption_feature="caption",
    shuffle_buffer=1000,
    repeat=False,
    drop_remainder=True,
    seed=None,
    shard=None,
    skipped=None,
    files_in_parallel=4,
):
    """Batches from TFRecord files of `tf.train.Example`s.

    Each record holds the encoded image (JPEG, PNG, WebP, GIF or BMP bytes) in the
    bytes feature `image_feature` and the UTF-8 caption in `caption_feature` (the
    first value, when there are several). Files must be uncompressed: a file whose
    records do not add up to its size (cut short, or a corrupt frame) is counted
    once as "unreadable_file" after the records read before the fault.

    Args:
        files: a TFRecord file (`.tfrecord`, `.tfrecords`, `.tfrec`), a folder of
            them, a glob or a list of those.
        preprocessor, batch_size: as in `webdataset_corpus`.
        image_feature: the name of the image feature.
        caption_feature: the name of the caption feature.
        shuffle_buffer, repeat, drop_remainder, seed, shard, skipped,
            files_in_parallel: as in `webdataset_corpus`.

    Returns:
        A `tf.data.Dataset` of `{"images", "token_ids"}` batches, with the
        `SkippedSamples` as its `skipped` attribute.

    Example:

    >>> from keras_siglip.data import write_tfrecord
    >>> paths = write_tfrecord(folder, images, captions)  # doctest: +SKIP
    >>> dataset = tfrecord_corpus(paths, preprocessor, batch_size=32)  # doctest: +SKIP
    """
    for name, value in (("image_feature", image_feature), ("caption_feature", caption_feature)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"`{name}` must be a feature name (a non-empty string), got {value!r}.")
    settings = _Settings(preprocessor, batch_size, shuffle_buffer, repeat, drop_remainder, seed, skipped, files_in_parallel)
    paths = _shard(_list_files(files, TFRECORD_EXTENSIONS, "files"), shard)
    sizes = np.array([tf.io.gfile.stat(path).length for path in paths], dtype=np.int64)
    file_names = _file_dataset((paths, sizes), settings)
    records = file_names.interleave(
        _tfrecord_file_records,
        cycle_length=min(files_in_parallel, len(paths)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    features = {
        image_feature: tf.io.VarLenFeature(tf.string),
        caption_feature: tf.io.VarLenFeature(tf.string),
    }

    def parse(sample):
        def example():
            parsed = tf.io.parse_single_example(sample["image"], features)
            images, captions = parsed[image_feature].values, parsed[caption_feature].values
            status = tf.where(
                tf.size(images) == 0,
                _STATUS["missing_image"],
                tf.where(tf.size(captions) == 0, _STATUS["missing_caption"], _OK),
            )
            first = lambda values: tf.concat([values, [""]], 0)[0]  # noqa: E731
            return {"image": first(images), "caption": first(captions), "status": status}

        return tf.cond(sample["status"] == _OK, example, lambda: sample)

    samples = _map_skipping_errors(records, parse, "bad_record", settings.skipped)
    return _batches(samples, settings, shuffled=False)


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
            files_in_parallel: as in `webdataset_corpus` (`files_in_parallel` tables
            are streamed at the same time).

    Returns:
        A `tf.data.Dataset` of `{"images", "token_ids"}` batches, with the
        `SkippedSamples` as its `skipped` attribute.

    Example:

    >>> from keras_siglip.data import write_caption_table
    >>> table = write_caption_table(folder, images, captions)  # doctest: +SKIP
    >>> dataset = caption_table_corpus(table, preprocessor, batch_size=32)  # doctest: +SKIP
    """
    settings = _Settings(preprocessor, batch_size, shuffle_buffer, repeat, drop_remainder, seed, skipped, files_in_parallel)
    tables = _list_files(table, TABLE_EXTENSIONS, "table")
    if image_root is not None and not tf.io.gfile.isdir(os.fspath(image_root)):
        raise ValueError(f"`image_root` must be a folder of images, got {image_root!r}, which is not a folder.")
    for path in tables:
        _check_columns(path, image_column, caption_column)
    index, count = _process_shard(shard)
    if len(tables) == 1:
        row_shard = (index, count)
    else:
        tables, row_shard = _shard(tables, (index, count)), (0, 1)
    roots = [os.fspath(image_root) if image_root is not None else os.path.dirname(path) for path in tables]
    file_names = _file_dataset((tables, roots), settings)
    rows = file_names.interleave(
        lambda path, root: tf.data.Dataset.from_generator(
            _table_samples,
            args=(path, root, image_column, caption_column, row_shard[0], row_shard[1]),
            output_signature=_RAW_SIGNATURE,
        ).unbatch(),
        cycle_length=min(files_in_parallel, len(tables)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    rows = _shuffle_and_end(rows, settings)

    def read(sample):
        contents = tf.cond(sample["status"] == _OK, lambda: tf.io.read_file(sample["image"]), lambda: tf.constant(""))
        return {**sample, "image": contents}

    samples = _map_skipping_errors(rows, read, "unreadable_file", settings.skipped)
    return _batches(samples, settings, shuffled=True)


def open_corpus(path_or_glob, preprocessor, batch_size, image_root=None, **options):
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
        **options: passed on to the format's function.

    Returns:
        The format's dataset.

    Example:

    >>> dataset = open_corpus("corpus/*.tar", preprocessor, batch_size=64, repeat=True)  # doctest: +SKIP
    """
    corpus_format, files = corpus_files(path_or_glob)
    if corpus_format == "caption_table":
        return caption_table_corpus(files, preprocessor, batch_size, image_root=image_root, **options)
    if image_root is not None:
        raise ValueError(
            f"`image_root` is for caption tables, but {path_or_glob!r} holds {corpus_format} files, "
            "which carry their images."
        )
    function = webdataset_corpus if corpus_format == "webdataset" else tfrecord_corpus
    return function(files, preprocessor, batch_size, **options)


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
    candidates = _expand(path_or_glob, "path_or_glob")
    by_format = {name: [f for f in candidates if f.lower().endswith(ends)] for name, ends in FORMATS.items()}
    found = [name for name, names in by_format.items() if names]
    if not found:
        raise ValueError(
            f"`path_or_glob` {path_or_glob!r} matches no corpus file: expected .tar shards, "
            f"TFRecord files ({', '.join(TFRECORD_EXTENSIONS)}) or a caption table "
            f"({', '.join(TABLE_EXTENSIONS)}); found {_describe(candidates)}."
        )
    is_folder = isinstance(path_or_glob, (str, os.PathLike)) and tf.io.gfile.isdir(os.fspath(path_or_glob))
    if len(found) > 1 and not is_folder:
        raise ValueError(
            f"`path_or_glob` {path_or_glob!r} matches files of several formats ({', '.join(found)}); "
            "narrow it to one, e.g. 'folder/*.tar'."
        )
    return found[0], by_format[found[0]]


def corpus_captions(path_or_glob, limit=None, image_column="image", caption_column="caption", caption_feature="caption"):
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
    >>> paths = write_webdataset(tempfile.mkdtemp(), np.zeros((3, 4, 4, 3), "uint8"), ["a cat", "a dog", None])
    >>> corpus_captions(paths[0])
    ['a cat', 'a dog']
    """
    if limit is not None:
        check_positive_int("limit", limit)
    corpus_format, files = corpus_files(path_or_glob)
    if corpus_format == "webdataset":
        chunks = (chunk for path in files for chunk in _tar_samples(path))
        candidates = (
            caption for chunk in chunks for caption, status in zip(chunk["caption"], chunk["status"]) if status == _OK
        )
    elif corpus_format == "tfrecord":
        candidates = _tfrecord_captions(files, caption_feature)
    else:
        for path in files:
            _check_columns(path, image_column, caption_column)
        rows = (row for path in files for row in _table_rows(path, image_column, caption_column))
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


def _tfrecord_captions(files, caption_feature):
    from google.protobuf.message import DecodeError

    for record in tf.data.TFRecordDataset(files).ignore_errors().as_numpy_iterator():
        try:
            example = tf.train.Example.FromString(record)
        except DecodeError:
            continue
        values = example.features.feature[caption_feature].bytes_list.value
        if values:
            yield values[0]


# --- Reading files ---------------------------------------------------------------


def _tar_samples(path):
    """Chunks of raw samples of one tar shard (runs in Python, inside `from_generator`)."""
    path = path.decode() if isinstance(path, bytes) else path
    chunk = _Chunk()
    current_key, members = None, {}
    try:
        with tf.io.gfile.GFile(path, "rb") as file, tarfile.open(fileobj=file, mode="r|") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                directory, _, name = member.name.rpartition("/")
                stem, dot, extension = name.partition(".")
                if not dot:
                    continue
                key = f"{directory}/{stem}"
                if key != current_key and members:
                    chunk.add(*_webdataset_sample(members))
                    members = {}
                    if len(chunk) == _GENERATOR_CHUNK:
                        yield chunk.arrays()
                current_key = key
                members[extension.lower()] = archive.extractfile(member).read()
    except (tarfile.TarError, OSError, tf.errors.OpError, EOFError):
        members = {}  # the half-read sample is lost with the rest of the shard
        chunk.add(b"", b"", _STATUS["unreadable_file"])
    if members:
        chunk.add(*_webdataset_sample(members))
    if len(chunk):
        yield chunk.arrays()


def _webdataset_sample(members):
    """`(image bytes, caption bytes, status)` of one sample's members."""
    image = next((members[e] for e in WEBDATASET_IMAGE_EXTENSIONS if e in members), None)
    if "txt" in members:
        caption, status = members["txt"], _OK
    elif "json" in members:
        caption, status = _json_caption(members["json"])
    else:
        caption, status = b"", _STATUS["missing_caption"]
    if image is None:
        return b"", caption, _STATUS["missing_image"]
    return image, caption, status


def _json_caption(contents):
    try:
        metadata = json.loads(contents)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return b"", _STATUS["bad_caption"]
    caption = metadata.get("caption") if isinstance(metadata, dict) else None
    if caption is None:
        return b"", _STATUS["missing_caption"]
    if not isinstance(caption, str):
        return b"", _STATUS["bad_caption"]
    return caption.encode("utf-8", "surrogatepass"), _OK


def _tfrecord_file_records(path, size):
    """The records of one TFRecord file, then an end marker that says if it was whole.

    A corrupt or cut-short file raises in the reader; `ignore_errors` ends the file
    there, and the bytes read fall short of the file's size.
    """
    records = tf.data.TFRecordDataset(path).ignore_errors()
    records = records.map(lambda record: {"image": record, "caption": tf.constant(""), "status": tf.constant(_OK)})
    end = tf.data.Dataset.from_tensors({"image": tf.constant(""), "caption": tf.constant(""), "status": tf.constant(_END)})

    def check(consumed, sample):
        is_end = sample["status"] == _END
        cut_short = is_end & (consumed != size)
        status = tf.where(cut_short, _STATUS["unreadable_file"], sample["status"])
        consumed += tf.cast(tf.strings.length(sample["image"]), tf.int64) + _TFRECORD_FRAME_BYTES
        return consumed, {**sample, "status": status}

    return records.concatenate(end).scan(tf.constant(0, tf.int64), check)


def _table_samples(path, image_root, image_column, caption_column, shard_index, shard_count):
    """Chunks of raw rows of one caption table (runs in Python)."""
    path, image_root, image_column, caption_column = (
        value.decode() if isinstance(value, bytes) else value for value in (path, image_root, image_column, caption_column)
    )
    chunk = _Chunk()
    try:
        for row, (image, caption) in enumerate(_table_rows(path, image_column, caption_column)):
            if row % shard_count != shard_index:
                continue
            if not isinstance(image, str) or not image:
                status, image = _STATUS["missing_image"], ""
            elif caption is None:
                status, caption = _STATUS["missing_caption"], ""
            elif not isinstance(caption, str):
                status, caption = _STATUS["bad_caption"], ""
            else:
                status = _OK
            if image and not os.path.isabs(image) and "://" not in image:
                image = os.path.join(image_root, image)
            chunk.add(image.encode("utf-8", "surrogatepass"), caption.encode("utf-8", "surrogatepass"), status)
            if len(chunk) == _GENERATOR_CHUNK:
                yield chunk.arrays()
    except (OSError, csv.Error, UnicodeDecodeError, tf.errors.OpError, _arrow_errors()):
        chunk.add(b"", b"", _STATUS["unreadable_file"])
    if len(chunk):
        yield chunk.arrays()


def _table_rows(path, image_column, caption_column):
    """`(image path, caption)` of each row; `None` for a null Parquet cell."""
    if path.lower().endswith(".parquet"):
        table = _pyarrow_parquet().ParquetFile(path)
        for batch in table.iter_batches(batch_size=1024, columns=[image_column, caption_column]):
            images, captions = batch.column(0).to_pylist(), batch.column(1).to_pylist()
            yield from zip(images, captions)
        return
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    with tf.io.gfile.GFile(path, "r") as file:
        reader = csv.DictReader(file, delimiter=delimiter)
        for row in reader:
            yield row.get(image_column), row.get(caption_column)


def _check_columns(path, image_column, caption_column):
    for name, value in (("image_column", image_column), ("caption_column", caption_column)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"`{name}` must be a column name (a non-empty string), got {value!r}.")
    if path.lower().endswith(".parquet"):
        columns = _pyarrow_parquet().ParquetFile(path).schema_arrow.names
    else:
        delimiter = "\t" if path.lower().endswith(".tsv") else ","
        with tf.io.gfile.GFile(path, "r") as file:
            columns = next(csv.reader(file, delimiter=delimiter), [])
    for name, value in (("image_column", image_column), ("caption_column", caption_column)):
        if value not in columns:
            raise ValueError(
                f"`{name}` {value!r} is not a column of the table {path!r}; its columns are {columns}."
            )


def _pyarrow_parquet():
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


class _Chunk:
    """Raw samples gathered in Python, handed to TensorFlow as three arrays."""

    def __init__(self):
        self.images, self.captions, self.statuses = [], [], []

    def add(self, image, caption, status):
        self.images.append(image)
        self.captions.append(caption)
        self.statuses.append(status)

    def __len__(self):
        return len(self.statuses)

    def arrays(self):
        arrays = {
            "image": np.array(self.images, dtype=object),
            "caption": np.array(self.captions, dtype=object),
            "status": np.array(self.statuses, dtype=np.int32),
        }
        self.images, self.captions, self.statuses = [], [], []
        return arrays


# --- The shared stages -------------------------------------------------------------


class _Settings:
    """The arguments every format shares, checked once."""

    def __init__(self, preprocessor, batch_size, shuffle_buffer, repeat, drop_remainder, seed, skipped, files_in_parallel):
        if not isinstance(preprocessor, SigLIPPreprocessor):
            raise TypeError(
                f"`preprocessor` must be a SigLIPPreprocessor, got {type(preprocessor).__name__}."
            )
        check_positive_int("batch_size", batch_size)
        check_positive_int("files_in_parallel", files_in_parallel)
        if isinstance(shuffle_buffer, bool) or not isinstance(shuffle_buffer, int) or shuffle_buffer < 0:
            raise ValueError(f"`shuffle_buffer` must be a non-negative integer, got {shuffle_buffer!r}.")
        for name, value in (("repeat", repeat), ("drop_remainder", drop_remainder)):
            if not isinstance(value, bool):
                raise TypeError(f"`{name}` must be True or False, got {value!r}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"`seed` must be an integer or None, got {seed!r}.")
        if skipped is not None and not isinstance(skipped, SkippedSamples):
            raise TypeError(f"`skipped` must be a SkippedSamples or None, got {type(skipped).__name__}.")
        self.preprocessor = preprocessor
        self.batch_size = batch_size
        self.shuffle = shuffle_buffer > 1
        self.shuffle_buffer = shuffle_buffer
        self.repeat = repeat
        self.drop_remainder = drop_remainder
        self.seed = seed
        self.skipped = skipped if skipped is not None else SkippedSamples()


def _file_dataset(files, settings):
    """File names (and what goes with them), shuffled and repeated as asked."""
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if settings.shuffle:
        count = len(files[0]) if isinstance(files, tuple) else len(files)
        dataset = dataset.shuffle(count, seed=settings.seed, reshuffle_each_iteration=True)
    return dataset.repeat() if settings.repeat else dataset


def _shuffle_and_end(samples, settings):
    """Shuffles raw samples and ends the stream with an end marker.

    The marker lets `_map_skipping_errors` count failures among the last samples.
    """
    if settings.shuffle:
        samples = samples.shuffle(settings.shuffle_buffer, seed=settings.seed, reshuffle_each_iteration=True)
    end = {"image": tf.constant(""), "caption": tf.constant(""), "status": tf.constant(_END)}
    return samples.concatenate(tf.data.Dataset.from_tensors(end))


def _map_skipping_errors(samples, function, reason, skipped):
    """`samples.map(function)` in parallel; samples whose `function` raises are
    skipped and counted under `reason`.

    TensorFlow has no try/except inside a graph. The samples are numbered, mapped in
    order (`deterministic=True`) and errors dropped by `ignore_errors`; a gap in the
    numbers that come out is the count of failures. Statuses other than `_OK` must
    not reach the failing op (`function` passes them through): the end marker then
    always comes out, and closes the last gap.
    """
    numbered = samples.enumerate()
    mapped = numbered.map(
        lambda number, sample: (number, function(sample)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    ).ignore_errors()
    code = _STATUS[reason]

    def count_gaps(expected, numbered_sample):
        number, sample = numbered_sample
        lost = number - expected
        update = skipped._add(lost, tf.one_hot(code, len(REASONS) + 2, dtype=tf.int64) * lost)
        with tf.control_dependencies([update]):
            return number + 1, tf.nest.map_structure(tf.identity, sample)

    return mapped.scan(tf.constant(0, tf.int64), count_gaps)


def _batches(samples, settings, shuffled=False):
    """Decode, resize and tokenise in parallel, skip and count, batch, prefetch."""
    if not shuffled:
        samples = _shuffle_and_end(samples, settings)
    preprocessor = settings.preprocessor
    tokenizer = preprocessor.tokenizer

    def prepare(sample):
        caption = sample["caption"]
        is_text = tf.strings.unicode_transcode(caption, "UTF-8", "UTF-8", errors="replace") == caption
        status = tf.where((sample["status"] == _OK) & ~is_text, _STATUS["bad_caption"], sample["status"])
        usable = status == _OK
        size = preprocessor.image_size
        images = tf.cond(usable, lambda: _decode_and_resize(sample["image"], size), lambda: tf.zeros([size, size, 3]))
        token_ids = tokenizer(tf.where(usable, caption, ""))
        if tokenizer.sequence_length > 1:
            # Ids that start with EOS hold no piece: nothing was left of the caption.
            status = tf.where(usable & (token_ids[0] == tokenizer.eos_id), _STATUS["empty_caption"], status)
        return {"images": images, "token_ids": token_ids, "status": status}

    prepared = _map_skipping_errors(samples, prepare, "bad_image", settings.skipped)

    def count(sample):
        status = sample["status"]
        read = tf.cast(status != _END, tf.int64)
        update = settings.skipped._add(read, tf.one_hot(status, len(REASONS) + 2, dtype=tf.int64))
        with tf.control_dependencies([update]):
            return tf.identity(status)

    batches = (
        prepared.map(lambda sample: {**sample, "status": count(sample)}, num_parallel_calls=tf.data.AUTOTUNE)
        .filter(lambda sample: sample["status"] == _OK)
        .map(lambda sample: {"images": sample["images"], "token_ids": sample["token_ids"]})
        .batch(settings.batch_size, drop_remainder=settings.drop_remainder, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(_pipeline_options())
    )
    batches.skipped = settings.skipped
    return batches


def _pipeline_options():
    """Every op of the pipeline on one thread: its parallelism is across samples.

    By default an op inside a `tf.data` map may split its work over TensorFlow's
    intra-op threads, which the other samples' ops already keep busy; on 2 cores one
    thread per op raised the tar pipeline from about 560 to 670 pairs/s
    (2026-11-28, `benchmarks/input_pipeline.py`, 256 -> 224 px).
    """
    options = tf.data.Options()
    options.threading.max_intra_op_parallelism = 1
    return options


def _decode_and_resize(contents, image_size):
    """Encoded image bytes to `(image_size, image_size, 3)` float32 in [-1, 1].

    The decoded pixels keep their own channels (grey, grey and alpha, RGB, RGBA), as
    Pillow gives them for files, so that alpha is composited over white and grey
    repeated as `preprocess_images` does everywhere else.
    """
    # JPEG through decode_jpeg: decode_image's integer-fast DCT differs from Pillow's.
    # decode_jpeg converts CMYK to RGB as Pillow does, but ignores the EXIF orientation
    # that Pillow's exif_transpose applies to image files: `upright` applies it.
    # A grey JPEG decoded to RGB repeats its grey exactly, as `preprocess_images` does.
    # Only float RGB leaves the branches: one resize after them serves both.

    def jpeg():
        image = tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_ACCURATE")
        return tf.cast(upright(image, contents), tf.float32)

    def other():
        return rgb_over_white(tf.io.decode_image(contents, channels=0, expand_animations=False))

    pixels = tf.cond(tf.io.is_jpeg(contents), jpeg, other)
    pixels.set_shape([None, None, 3])
    return preprocess_decoded(pixels, image_size)


# --- Files and processes -----------------------------------------------------------


def _expand(paths, argument):
    """Sorted files named by a path, folder, glob or list of them."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not isinstance(paths, (list, tuple)) or not paths:
        raise ValueError(
            f"`{argument}` must be a file, a folder, a glob or a non-empty list of them, got {paths!r}."
        )
    found = []
    for path in paths:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"`{argument}` must hold paths (strings), got {type(path).__name__}: {path!r}.")
        path = os.fspath(path)
        if tf.io.gfile.isdir(path):
            found += [os.path.join(path, name) for name in tf.io.gfile.listdir(path)]
        elif any(character in path for character in "*?["):
            found += tf.io.gfile.glob(path)
        elif tf.io.gfile.exists(path):
            found.append(path)
        else:
            raise FileNotFoundError(f"`{argument}` names {path!r}, which does not exist.")
    return sorted(dict.fromkeys(found))


def _list_files(paths, extensions, argument):
    candidates = _expand(paths, argument)
    files = [path for path in candidates if path.lower().endswith(extensions)]
    if not files:
        raise ValueError(
            f"`{argument}` {paths!r} matches no {' / '.join(extensions)} file; found {_describe(candidates)}."
        )
    return files


def _describe(paths):
    if not paths:
        return "nothing"
    shown = ", ".join(repr(os.path.basename(path)) for path in paths[:5])
    return shown + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def _process_shard(shard):
    """`(index, count)` of this process among those that share the files."""
    if shard is None:
        import keras

        if keras.backend.backend() == "jax":
            import jax

            return jax.process_index(), jax.process_count()
        return 0, 1
    try:
        index, count = shard
    except (TypeError, ValueError):
        index = count = None
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (index, count)) or not 0 <= index < count:
        raise ValueError(
            f"`shard` must be `(index, count)`, integers with 0 <= index < count (this process and how "
            f"many share the files), got {shard!r}."
        )
    return int(index), int(count)


def _shard(files, shard):
    """This process's files: every `count`-th of the sorted list, from `index`."""
    index, count = _process_shard(shard)
    if len(files) < count:
        raise ValueError(
            f"{len(files)} files cannot be split between {count} processes: each process reads its own "
            "files, so write at least as many shards as processes (many more balance the load)."
        )
    return files[index::count]
