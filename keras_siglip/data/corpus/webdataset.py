"""WebDataset tar shards, as img2dataset writes them: `KEY.jpg` with `KEY.txt`, or a
`KEY.json` holding a "caption"."""

import functools
import json
import tarfile

import tensorflow as tf

from keras_siglip.data.corpus import stages
from keras_siglip.data.corpus.stages import MAX_MEMBER_BYTES, OK, STATUS
from keras_siglip.validation import check_positive_int

WEBDATASET_IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "gif", "bmp")


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
    keep=None,
    max_image_pixels=stages.MAX_IMAGE_PIXELS,
    max_member_bytes=stages.MAX_MEMBER_BYTES,
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
        keep: a function `key -> bool`, or `None` for every sample: only samples
            whose key it accepts are read, the others are neither used nor counted
            (e.g. `HoldOut.keep` for training, `HoldOut.is_validation` for its
            validation pairs). The key is the member name up to the first dot of its
            base name, with its folder inside the tar (`"000000042"`).
        max_image_pixels: images whose header promises more pixels (width times
            height) are skipped without being decoded, as "image_over_pixel_limit".
            The default is Pillow's `Image.MAX_IMAGE_PIXELS`, 89,478,485.
        max_member_bytes: tar members larger than this are skipped without being
            read, as "member_over_byte_limit" (default 64 MiB).

    Returns:
        A `tf.data.Dataset` of `{"images", "token_ids"}` batches, with the
        `SkippedSamples` as its `skipped` attribute. Iterating it raises a
        `tf.errors.InvalidArgumentError` naming the files and the skip counts when a
        whole pass over the files gives no usable sample (with `repeat` too), and
        warns once when more than half of the first 1,000 samples are skipped. Its
        `close()` stops the reading (call it before deleting an iterator that is
        still reading, when the program goes on: see `closing.close_function`).

    Example:

    >>> import tempfile, numpy as np
    >>> from keras_siglip.data import write_webdataset
    >>> from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer
    >>> from keras_siglip.preprocessing import train_sentencepiece
    >>> captions = ["a red circle", "a blue square", "a red square", "a blue circle"]
    >>> tokenizer = SigLIPTokenizer(train_sentencepiece(captions * 4, 16), sequence_length=8)
    >>> images = np.zeros((4, 40, 30, 3), "uint8")
    >>> paths = write_webdataset(tempfile.mkdtemp(), images, captions + ["!"], samples_per_shard=2)
    Traceback (most recent call last):
    ...
    ValueError: `images` has 4 images but `captions` has 5 captions.
    >>> paths = write_webdataset(
    ...     tempfile.mkdtemp(), images, captions[:3] + ["!"], samples_per_shard=2
    ... )
    >>> dataset = webdataset_corpus(paths, SigLIPPreprocessor(tokenizer, 16), batch_size=3)
    >>> [batch["images"].shape for batch in dataset.as_numpy_iterator()]
    [(3, 16, 16, 3)]
    >>> print(dataset.skipped)
    read 4 samples, skipped 1 (1 empty_caption)
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
    check_positive_int("max_member_bytes", max_member_bytes)
    paths = stages.shard_files(stages.list_files(files, (".tar",), "files"), shard)
    settings.files = paths
    read_shard = functools.partial(
        tar_samples, keep=stages.check_keep(keep), stop=settings.closing.stop
    )

    def read_file(path):
        samples = tf.data.Dataset.from_generator(
            read_shard, args=(path, max_member_bytes), output_signature=stages.RAW_SIGNATURE
        )
        return samples.unbatch()

    samples = stages.interleave(
        stages.file_dataset(paths, settings), read_file, len(paths), settings
    )
    return stages.batches(samples, settings)


def tar_samples(path, max_member_bytes=MAX_MEMBER_BYTES, keep=None, stop=None):
    """Chunks of raw samples of one tar shard (runs in Python, inside `from_generator`).

    The archive is streamed (`r|`): a sample is complete when a member of the next
    key begins, and each member is read once, by `read_member`, as it comes. A
    member larger than `max_member_bytes` is never read (`tarfile` skips over it):
    its sample counts as "member_over_byte_limit". With `keep`, only the samples
    whose key it accepts. It returns early once `stop()` is true (the corpus was
    closed).
    """
    path = path.decode() if isinstance(path, bytes) else path
    max_member_bytes = int(max_member_bytes)
    chunk = stages.Chunk()
    current_key, members = None, {}
    try:
        with (
            tf.io.gfile.GFile(path, "rb") as file,
            tarfile.open(fileobj=file, mode="r|") as archive,
        ):
            for member in archive:
                if stop is not None and stop():
                    return
                if not member.isfile():
                    continue
                directory, _, name = member.name.rpartition("/")
                stem, dot, extension = name.partition(".")
                if not dot:
                    continue
                key = f"{directory}/{stem}" if directory else stem
                if key != current_key and members:
                    if keep is None or keep(current_key):
                        chunk.add(*webdataset_sample(members))
                    members = {}
                    if len(chunk) == stages.GENERATOR_CHUNK:
                        yield chunk.arrays()
                current_key = key
                members[extension.lower()] = read_member(archive, member, max_member_bytes)
    except (tarfile.TarError, OSError, tf.errors.OpError, EOFError):
        members = {}  # the half-read sample is lost with the rest of the shard
        chunk.add(b"", b"", STATUS["unreadable_file"])
    if members and (keep is None or keep(current_key)):
        chunk.add(*webdataset_sample(members))
    if len(chunk):
        yield chunk.arrays()


def read_member(archive, member, max_member_bytes=MAX_MEMBER_BYTES):
    """The contents of the file `member` of the streamed tar `archive`, or
    `OVERSIZED` for a member above `max_member_bytes` (its size from the tar header:
    nothing is read).

    The one place that reads a member's bytes; it raises what `tarfile` raises for
    a member cut short.
    """
    if member.size > max_member_bytes:
        return OVERSIZED
    return archive.extractfile(member).read()


# Stands for a member that was too large to read.
OVERSIZED = object()


def webdataset_sample(members):
    """`(image bytes, caption bytes, status)` of one sample's members."""
    image = next((members[e] for e in WEBDATASET_IMAGE_EXTENSIONS if e in members), None)
    caption_member = members.get("txt", members.get("json"))
    if image is OVERSIZED or caption_member is OVERSIZED:
        return b"", b"", STATUS["member_over_byte_limit"]
    if "txt" in members:
        caption, status = members["txt"], OK
    elif "json" in members:
        caption, status = json_caption(members["json"])
    else:
        caption, status = b"", STATUS["missing_caption"]
    if image is None:
        return b"", caption, STATUS["missing_image"]
    return image, caption, status


def json_caption(contents):
    """`(caption bytes, status)` of a sample's `.json` member."""
    try:
        metadata = json.loads(contents)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return b"", STATUS["bad_caption"]
    caption = metadata.get("caption") if isinstance(metadata, dict) else None
    if caption is None:
        return b"", STATUS["missing_caption"]
    if not isinstance(caption, str):
        return b"", STATUS["bad_caption"]
    return caption.encode("utf-8", "surrogatepass"), OK
