"""TFRecord files of `tf.train.Example`s with an encoded image and a caption."""

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError

from keras_siglip.data.corpus import stages
from keras_siglip.data.corpus.stages import END, OK, STATUS

TFRECORD_EXTENSIONS = (".tfrecord", ".tfrecords", ".tfrec")
# A TFRecord frame around each record: length (8 bytes), its CRC (4), data, data CRC (4).
_FRAME_BYTES = 16


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
    keep=None,
    max_image_pixels=stages.MAX_IMAGE_PIXELS,
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
            files_in_parallel, max_image_pixels: as in `webdataset_corpus`.
        keep: as in `webdataset_corpus`; a record's key is its file's base name and
            its index in the file, `"NAME:INDEX"` (`"train-00000.tfrecord:41"`).

    Returns:
        A `tf.data.Dataset` of `{"images", "token_ids"}` batches, with the
        `SkippedSamples` as its `skipped` attribute and a `close()`; it raises when
        a whole pass gives no usable sample, as `webdataset_corpus`'s does.

    Example:

    >>> from keras_siglip.data import write_tfrecord
    >>> paths = write_tfrecord(folder, images, captions)  # doctest: +SKIP
    >>> dataset = tfrecord_corpus(paths, preprocessor, batch_size=32)  # doctest: +SKIP
    """
    for name, value in (("image_feature", image_feature), ("caption_feature", caption_feature)):
        if not isinstance(value, str) or not value:
            raise ValueError(
                f"`{name}` must be a feature name (a non-empty string), got {value!r}."
            )
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
    paths = stages.shard_files(stages.list_files(files, TFRECORD_EXTENSIONS, "files"), shard)
    settings.files = paths
    sizes = np.array([tf.io.gfile.stat(path).length for path in paths], dtype=np.int64)
    file_names = stages.file_dataset((paths, sizes), settings)
    keep = stages.check_keep(keep)
    records = stages.interleave(
        file_names, lambda path, size: _file_records(path, size, keep), len(paths), settings
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
                STATUS["missing_image"],
                tf.where(tf.size(captions) == 0, STATUS["missing_caption"], OK),
            )
            first = lambda values: tf.concat([values, [""]], 0)[0]  # noqa: E731
            return {"image": first(images), "caption": first(captions), "status": status}

        return tf.cond(sample["status"] == OK, example, lambda: sample)

    samples = stages.map_skipping_errors(records, parse, "bad_record", settings.skipped)
    return stages.batches(samples, settings)


def _file_records(path, size, keep=None):
    """The records of one TFRecord file, then an end marker that says if it was whole.

    A corrupt or cut-short file raises in the reader; `ignore_errors` ends the file
    there, and the bytes read fall short of the file's size. With `keep`, only the
    records whose key (`"NAME:INDEX"`) it accepts, and the end marker.
    """
    records = tf.data.TFRecordDataset(path).ignore_errors()
    records = records.map(
        lambda record: {"image": record, "caption": tf.constant(""), "status": tf.constant(OK)}
    )
    end = {"image": tf.constant(""), "caption": tf.constant(""), "status": tf.constant(END)}
    end = tf.data.Dataset.from_tensors(end)

    def check(consumed, sample):
        is_end = sample["status"] == END
        cut_short = is_end & (consumed != size)
        status = tf.where(cut_short, STATUS["unreadable_file"], sample["status"])
        consumed += tf.cast(tf.strings.length(sample["image"]), tf.int64) + _FRAME_BYTES
        return consumed, {**sample, "status": status}

    records = records.concatenate(end).scan(tf.constant(0, tf.int64), check)
    if keep is None:
        return records
    name = tf.strings.split(path, "/")[-1]

    def accepted(index, sample):
        def call_keep(name, index):
            return np.bool_(keep(f"{name.decode('utf-8', 'replace')}:{index}"))

        is_kept = tf.numpy_function(call_keep, [name, index], tf.bool, stateful=False)
        return (sample["status"] != OK) | tf.reshape(is_kept, [])

    return records.enumerate().filter(accepted).map(lambda index, sample: sample)


def tfrecord_captions(files, caption_feature):
    """The first `caption_feature` value of each readable record, as bytes."""
    for record in tf.data.TFRecordDataset(files).ignore_errors().as_numpy_iterator():
        try:
            example = tf.train.Example.FromString(record)
        except DecodeError:
            continue
        values = example.features.feature[caption_feature].bytes_list.value
        if values:
            yield values[0]
