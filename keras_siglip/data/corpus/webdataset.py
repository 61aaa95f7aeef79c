"""WebDataset tar shards, as img2dataset writes them: `KEY.jpg` with `KEY.txt`, or a
`KEY.json` holding a "caption"."""

import functools
import json
import tarfile

import tensorflow as tf

from keras_siglip.data.corpus import stages
from keras_siglip.data.corpus.stages import OK, STATUS

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

    Returns:
        A `tf.data.Dataset` of `{"images", "token_ids"}` batches, with the
        `SkippedSamples` as its `skipped` attribute.

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
    )
    paths = stages.shard_files(stages.list_files(files, (".tar",), "files"), shard)
    read_shard = functools.partial(tar_samples, keep=stages.check_keep(keep))

    def read_file(path):
        samples = tf.data.Dataset.from_generator(
            read_shard, args=(path,), output_signature=stages.RAW_SIGNATURE
        )
        return samples.unbatch()

    samples = stages.interleave(
        stages.file_dataset(paths, settings), read_file, len(paths), settings
    )
    return stages.batches(samples, settings)


def tar_samples(path, keep=None):
    """Chunks of raw samples of one tar shard (runs in Python, inside `from_generator`).

    The archive is streamed (`r|`): a sample is complete when a member of the next
    key begins, and each member is read once, by `read_member`, as it comes. With
    `keep`, only the samples whose key it accepts.
    """
    path = path.decode() if isinstance(path, bytes) else path
    chunk = stages.Chunk()
    current_key, members = None, {}
    try:
        with (
            tf.io.gfile.GFile(path, "rb") as file,
            tarfile.open(fileobj=file, mode="r|") as archive,
        ):
            for member in archive:
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
                members[extension.lower()] = read_member(archive, member)
    except (tarfile.TarError, OSError, tf.errors.OpError, EOFError):
        members = {}  # the half-read sample is lost with the rest of the shard
        chunk.add(b"", b"", STATUS["unreadable_file"])
    if members and (keep is None or keep(current_key)):
        chunk.add(*webdataset_sample(members))
    if len(chunk):
        yield chunk.arrays()


def read_member(archive, member):
    """The contents of the file `member` of the streamed tar `archive`.

    The one place that reads a member's bytes; it raises what `tarfile` raises for
    a member cut short.
    """
    return archive.extractfile(member).read()


def webdataset_sample(members):
    """`(image bytes, caption bytes, status)` of one sample's members."""
    image = next((members[e] for e in WEBDATASET_IMAGE_EXTENSIONS if e in members), None)
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
