"""The stages every corpus format shares: listing and splitting files, counting skipped
samples by reason, decoding images, tokenising captions, batching.

A format module turns its files into a stream of raw samples, dictionaries of
`{"image": encoded bytes, "caption": bytes, "status": int32}`. The status is `OK`,
the code of the reason a sample cannot be used (`STATUS[reason]`), or `END`, a marker
that closes a file or the stream and is never counted. `batches` decodes, tokenises,
counts and drops unusable samples, and batches the rest.
"""

import os
import re
import warnings

import numpy as np
import tensorflow as tf

from keras_siglip.data.corpus.closing import Closing, close_function, repeat_passes, until_closed
from keras_siglip.data.exif import upright
from keras_siglip.data.image_header import image_pixels
from keras_siglip.preprocessing import SigLIPPreprocessor
from keras_siglip.preprocessing.image import preprocess_decoded, rgb_over_white
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
    "image_over_pixel_limit",  # a header promising more than `max_image_pixels`: not decoded
    "member_over_byte_limit",  # a tar member larger than `max_member_bytes`: not read
)
OK = 0
STATUS = {reason: code for code, reason in enumerate(REASONS, start=1)}
# Marks the end of a file; never a sample, never counted.
END = len(REASONS) + 1
# Marks the end of one pass over all the files; never a sample, never counted.
PASS_END = END + 1

# Pillow's `Image.MAX_IMAGE_PIXELS`: images whose header promises more are skipped
# undecoded (decoding 20,000 x 20,000 pixels takes gigabytes).
MAX_IMAGE_PIXELS = 89_478_485
# Tar members larger than this are skipped without being read into memory.
MAX_MEMBER_BYTES = 64 * 2**20
# Samples after which a corpus that skips more than half of them gets a warning.
WARN_AFTER_SAMPLES = 1000

# Samples a reading generator hands to TensorFlow at once: one Python call per chunk
# instead of one per sample.
GENERATOR_CHUNK = 64
RAW_SIGNATURE = {
    "image": tf.TensorSpec([None], tf.string),
    "caption": tf.TensorSpec([None], tf.string),
    "status": tf.TensorSpec([None], tf.int32),
}


# --- Counting skipped samples ---------------------------------------------------------


class SkippedSamples:
    """How many samples a corpus pipeline read, and how many it skipped, by reason.

    The counts are `tf.Variable`s that the pipeline updates as it runs: read them
    during `fit` (from a callback) or after. Reasons are `REASONS`:
    "unreadable_file" (a file that cannot be read, or a shard or TFRecord file that
    is cut short or corrupt: counted once per file, the samples it held are lost),
    "bad_record", "missing_image", "bad_image", "missing_caption", "bad_caption",
    "empty_caption", "image_over_pixel_limit" (not decoded), "member_over_byte_limit"
    (a tar member not read). Every corpus function counts into the one you pass as
    `skipped`, or a new one, available as the dataset's `skipped` attribute.

    Example:

    >>> skipped = SkippedSamples()
    >>> skipped.read, skipped.skipped, str(skipped)
    (0, 0, 'read 0 samples, skipped 0')
    """

    def __init__(self):
        with tf.device("/CPU:0"):
            # Slot 0 counts every sample read, slot STATUS[reason] the skipped ones.
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
        return {reason: int(values[code]) for reason, code in STATUS.items()}

    def reset(self):
        self._counts.assign(tf.zeros_like(self._counts))

    def __str__(self):
        values = self._counts.numpy()  # one read: the pipeline may be updating them
        reasons = ", ".join(
            f"{values[code]:,} {reason}" for reason, code in STATUS.items() if values[code]
        )
        summary = f"read {values[0]:,} samples, skipped {values[1:].sum():,}"
        return summary + (f" ({reasons})" if reasons else "")

    def __repr__(self):
        return f"<SkippedSamples {self}>"


def count_samples(skipped, status, count=1):
    """In the graph: `count` samples with `status` are done with; returns the update.

    The one place where the pipeline counts: every sample that is not the `END`
    marker is read, every status other than `OK` is a skip under its reason.
    """
    status, count = tf.convert_to_tensor(status, tf.int32), tf.cast(count, tf.int64)
    read = tf.where(status >= END, tf.constant(0, tf.int64), count)
    by_status = tf.one_hot(status, END + 1, dtype=tf.int64) * count
    return skipped._counts.assign_add(tf.concat([[read], by_status[1:END]], 0))


# --- Arguments, files and processes ---------------------------------------------------


class Settings:
    """The arguments every format shares, checked once."""

    def __init__(
        self,
        preprocessor,
        batch_size,
        shuffle_buffer,
        repeat,
        drop_remainder,
        seed,
        skipped,
        files_in_parallel,
        max_image_pixels=MAX_IMAGE_PIXELS,
    ):
        if not isinstance(preprocessor, SigLIPPreprocessor):
            raise TypeError(
                f"`preprocessor` must be a SigLIPPreprocessor, got {type(preprocessor).__name__}."
            )
        check_positive_int("batch_size", batch_size)
        check_positive_int("files_in_parallel", files_in_parallel)
        check_positive_int("max_image_pixels", max_image_pixels)
        if (
            isinstance(shuffle_buffer, bool)
            or not isinstance(shuffle_buffer, int)
            or shuffle_buffer < 0
        ):
            raise ValueError(
                f"`shuffle_buffer` must be a non-negative integer, got {shuffle_buffer!r}."
            )
        for name, value in (("repeat", repeat), ("drop_remainder", drop_remainder)):
            if not isinstance(value, bool):
                raise TypeError(f"`{name}` must be True or False, got {value!r}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"`seed` must be an integer or None, got {seed!r}.")
        if skipped is not None and not isinstance(skipped, SkippedSamples):
            raise TypeError(
                f"`skipped` must be a SkippedSamples or None, got {type(skipped).__name__}."
            )
        self.preprocessor = preprocessor
        self.batch_size = batch_size
        self.shuffle = shuffle_buffer > 1
        self.shuffle_buffer = shuffle_buffer
        self.repeat = repeat
        self.drop_remainder = drop_remainder
        self.seed = seed
        self.files_in_parallel = files_in_parallel
        self.skipped = skipped if skipped is not None else SkippedSamples()
        self.max_image_pixels = max_image_pixels
        # Ends the reading: `close`, a pass without a usable sample (closing.py); the
        # readers that run Python check its `stop` at each sample.
        self.closing = Closing()
        # The files being read, for the error when none of them holds a sample:
        # set by the format once it has listed them.
        self.files = []


def check_keep(keep):
    """`keep` (a function `key -> bool` choosing the samples to read, or `None`), checked."""
    if keep is not None and not callable(keep):
        raise TypeError(f"`keep` must be a function key -> bool or None, got {keep!r}.")
    return keep


def expand(paths, argument):
    """Sorted files named by a path, folder, glob or list of them."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not isinstance(paths, (list, tuple)) or not paths:
        raise ValueError(
            f"`{argument}` must be a file, a folder, a glob or a non-empty list of them, "
            f"got {paths!r}."
        )
    found = []
    for path in paths:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"`{argument}` must hold paths (strings), got {type(path).__name__}: {path!r}."
            )
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


def list_files(paths, extensions, argument):
    """Sorted files with one of `extensions` among those `paths` names."""
    candidates = expand(paths, argument)
    files = [path for path in candidates if path.lower().endswith(extensions)]
    if not files:
        raise ValueError(
            f"`{argument}` {paths!r} matches no {' / '.join(extensions)} file; "
            f"found {describe(candidates)}."
        )
    return files


def describe(paths):
    """The first few base names of `paths`, for an error message."""
    if not paths:
        return "nothing"
    shown = ", ".join(repr(os.path.basename(path)) for path in paths[:5])
    return shown + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def process_shard(shard):
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
    is_int = [isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (index, count)]
    if not all(is_int) or not 0 <= index < count:
        raise ValueError(
            "`shard` must be `(index, count)`, integers with 0 <= index < count (this process "
            f"and how many share the files), got {shard!r}."
        )
    return int(index), int(count)


def shard_files(files, shard):
    """This process's files: every `count`-th of the sorted list, from `index`."""
    index, count = process_shard(shard)
    if len(files) < count:
        raise ValueError(
            f"{len(files)} files cannot be split between {count} processes: each process reads "
            "its own files, so write at least as many shards as processes (many more balance "
            "the load)."
        )
    return files[index::count]


class Chunk:
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


# --- The stages of the pipeline -------------------------------------------------------


def file_dataset(files, settings):
    """File names (and what goes with them), shuffled as asked (once per pass:
    `repeat_passes` repeats the passes)."""
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if settings.shuffle:
        count = len(files[0]) if isinstance(files, tuple) else len(files)
        dataset = dataset.shuffle(count, seed=settings.seed, reshuffle_each_iteration=True)
    return until_closed(dataset, settings.closing)


def interleave(file_names, read_file, file_count, settings):
    """The raw samples of `settings.files_in_parallel` files at a time."""
    return file_names.interleave(
        read_file,
        cycle_length=min(settings.files_in_parallel, file_count),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def shuffle_and_end(samples, settings):
    """Shuffles one pass of raw samples and ends it with a `PASS_END` marker.

    The marker lets `map_skipping_errors` count failures among the last samples,
    and `check_passes` tell a pass without a usable sample. It follows the shuffle,
    so it comes after every sample of its pass (the buffer drains at each pass).
    """
    if settings.shuffle:
        samples = samples.shuffle(
            settings.shuffle_buffer, seed=settings.seed, reshuffle_each_iteration=True
        )
    end = {"image": tf.constant(""), "caption": tf.constant(""), "status": tf.constant(PASS_END)}
    return samples.concatenate(tf.data.Dataset.from_tensors(end))


def map_skipping_errors(samples, function, reason, skipped):
    """`samples.map(function)` in parallel; samples whose `function` raises are
    skipped and counted under `reason`.

    TensorFlow has no try/except inside a graph. The samples are numbered, mapped in
    order (`deterministic=True`) and errors dropped by `ignore_errors`; a gap in the
    numbers that come out is the count of failures. Statuses other than `OK` must
    not reach the failing op (`function` passes them through): the end marker then
    always comes out, and closes the last gap.
    """
    numbered = samples.enumerate()
    mapped = numbered.map(
        lambda number, sample: (number, function(sample)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    ).ignore_errors()
    code = STATUS[reason]

    def count_gaps(expected, numbered_sample):
        number, sample = numbered_sample
        update = count_samples(skipped, code, count=number - expected)
        with tf.control_dependencies([update]):
            return number + 1, tf.nest.map_structure(tf.identity, sample)

    return mapped.scan(tf.constant(0, tf.int64), count_gaps)


def batches(samples, settings, after_shuffle=None):
    """One pass of raw `samples`, shuffled (then `after_shuffle(samples)` if given),
    decoded, resized and tokenised in parallel, skipped and counted, repeated if
    asked, batched and prefetched."""
    samples = shuffle_and_end(until_closed(samples, settings.closing), settings)
    if after_shuffle is not None:
        samples = after_shuffle(samples)
    preprocessor = settings.preprocessor
    tokenizer = preprocessor.tokenizer

    def prepare(sample):
        caption = sample["caption"]
        is_text = (
            tf.strings.unicode_transcode(caption, "UTF-8", "UTF-8", errors="replace") == caption
        )
        status = tf.where(
            (sample["status"] == OK) & ~is_text, STATUS["bad_caption"], sample["status"]
        )
        pixels = tf.numpy_function(
            lambda contents: np.int64(image_pixels(contents)),
            [sample["image"]],
            tf.int64,
            stateful=False,
        )
        pixels.set_shape([])
        too_large = (status == OK) & (pixels > settings.max_image_pixels)
        status = tf.where(too_large, STATUS["image_over_pixel_limit"], status)
        usable = status == OK
        size = preprocessor.image_size
        images = tf.cond(
            usable,
            lambda: decode_and_resize(sample["image"], size),
            lambda: tf.zeros([size, size, 3]),
        )
        token_ids = tokenizer(tf.where(usable, caption, ""))
        if tokenizer.sequence_length > 1:
            # Ids that start with EOS hold no piece: nothing was left of the caption.
            is_empty = usable & (token_ids[0] == tokenizer.eos_id)
            status = tf.where(is_empty, STATUS["empty_caption"], status)
        return {"images": images, "token_ids": token_ids, "status": status}

    prepared = map_skipping_errors(samples, prepare, "bad_image", settings.skipped)

    def count(sample):
        update = count_samples(settings.skipped, sample["status"])
        with tf.control_dependencies([update]):
            return {**sample, "status": tf.identity(sample["status"])}

    checked = check_passes(prepared.map(count, num_parallel_calls=tf.data.AUTOTUNE), settings)
    result = (
        repeat_passes(checked, settings.closing, settings.repeat, describe(settings.files))
        .filter(lambda sample: sample["status"] == OK)
        .map(lambda sample: {"images": sample["images"], "token_ids": sample["token_ids"]})
        .batch(
            settings.batch_size,
            drop_remainder=settings.drop_remainder,
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .prefetch(tf.data.AUTOTUNE)
        .with_options(pipeline_options())
    )
    result.skipped = settings.skipped
    result.close = close_function(settings.closing)
    return result


def no_usable_sample_error(error):
    """A `ValueError` with `check_passes`'s message when `error` (a TensorFlow error
    raised while iterating a corpus) is that check failing; otherwise `None`.

    The check fails inside `tf.data`, which can only raise TensorFlow's own errors;
    callers that report errors in one line (the CLI) turn it back into its message.
    """
    found = re.search(r"The corpus files .*? hold no usable sample: .*?reason means\.", str(error))
    # TensorFlow escapes the quotes of the names it prints.
    return ValueError(found.group(0).replace("\\'", "'")) if found else None


def check_passes(samples, settings):
    """Raise when a whole pass over the files gave no usable sample; warn once when
    more than half of the first `WARN_AFTER_SAMPLES` samples were skipped.

    Runs in order (a `scan`), after the samples are counted: a corpus whose every
    sample is unusable ends with an error that names its files and the skip counts,
    instead of repeating forever without a batch.
    """
    skipped = settings.skipped
    closed = settings.closing.closed
    files = describe(settings.files)
    reasons = tf.constant(REASONS)

    def reason_counts():
        counts = skipped._counts[1:END]
        listed = tf.strings.as_string(counts) + " " + reasons
        return tf.strings.reduce_join(tf.boolean_mask(listed, counts > 0), separator=", ")

    def fail():
        opening = (
            f"The corpus files {files} hold no usable sample: a whole pass over them "
            "skipped every one ("
        )
        ending = "). See SkippedSamples for what each reason means."
        message = tf.strings.join([opening, reason_counts(), ending])
        with tf.control_dependencies([settings.closing.failed.assign(True)]):
            check = tf.debugging.Assert(False, [message], summarize=1)
        with tf.control_dependencies([check]):
            return tf.constant(0, tf.int64)

    # Keras may open several iterators over one dataset (each scan starts afresh):
    # the dataset warns once in all.
    warned_by_dataset = []

    def warn(message):
        if not warned_by_dataset:
            warned_by_dataset.append(True)
            warnings.warn(message.numpy().decode(), stacklevel=1)
        return np.int64(0)

    def step(state, sample):
        usable_in_pass, warned = state
        status = sample["status"]
        is_pass_end = status == PASS_END
        usable_in_pass += tf.cast(status == OK, tf.int64)
        # A pass that `close` cut short is no evidence against the corpus.
        checked = tf.cond(
            is_pass_end & (usable_in_pass == 0) & tf.logical_not(closed.read_value()),
            fail,
            lambda: tf.constant(0, tf.int64),
        )
        # The counts, not this stage's samples: those that failed to decode were
        # dropped before it, and counted.
        counts = skipped._counts.read_value()
        seen, skipped_count = counts[0], tf.reduce_sum(counts[1:END])
        due = ~warned & ((seen >= WARN_AFTER_SAMPLES) | is_pass_end) & (2 * skipped_count > seen)
        opening = f"More than half of the first samples of the corpus files {files} were skipped ("
        warning = tf.cond(
            due,
            lambda: tf.py_function(
                warn,
                [tf.strings.join([opening, reason_counts(), "); check the corpus."])],
                tf.int64,
            ),
            lambda: tf.constant(0, tf.int64),
        )
        warned = warned | due | (seen >= WARN_AFTER_SAMPLES) | is_pass_end
        usable_in_pass = tf.where(is_pass_end, tf.constant(0, tf.int64), usable_in_pass)
        with tf.control_dependencies([checked, warning]):
            sample = tf.nest.map_structure(tf.identity, sample)
        return (usable_in_pass, warned), sample

    return samples.scan((tf.constant(0, tf.int64), tf.constant(False)), step)


def pipeline_options():
    """Every op of the pipeline on one thread: its parallelism is across samples.

    By default an op inside a `tf.data` map may split its work over TensorFlow's
    intra-op threads, which the other samples' ops already keep busy; on 2 cores one
    thread per op raised the tar pipeline from about 560 to 670 pairs/s
    (`benchmarks/input_pipeline.py`, 256 -> 224 px).
    """
    options = tf.data.Options()
    options.threading.max_intra_op_parallelism = 1
    return options


def decode_and_resize(contents, image_size):
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
