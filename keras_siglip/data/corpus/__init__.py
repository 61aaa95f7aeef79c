"""Input pipelines for image-caption corpora on disk, for `model.fit` on any backend.

One function per format, each returning a `tf.data.Dataset` of model-ready batches
`{"images": (batch, size, size, 3) float32 in [-1, 1], "token_ids": (batch, length) int32}`:

- `webdataset_corpus` (`webdataset.py`): WebDataset tar shards, as img2dataset writes
  them (`KEY.jpg` with `KEY.txt`, or a `KEY.json` holding a "caption");
- `tfrecord_corpus` (`tfrecord.py`): TFRecord files of `tf.train.Example`s with an
  encoded image and a caption;
- `caption_table_corpus` (`tables.py`): a CSV, TSV or Parquet table of image paths and
  captions, next to a folder of images.

`open_corpus(path_or_glob, ...)` (`formats.py`) picks the format from the file names.

Every format goes through the same stages (`stages.py`): the files, split between
processes and shuffled, are read a few at a time (`interleave`); the raw samples
(encoded image bytes and caption) pass a shuffle buffer; then images are decoded,
squash-resized with antialiasing to `[-1, 1]` and captions tokenised by the
preprocessor's `SigLIPTokenizer`, in parallel inside the `tf.data` graph (JPEGs turned
upright by their EXIF orientation, CMYK JPEGs converted to RGB, as Pillow does for image
files); batches are prefetched. Nothing is held in memory beyond the buffers.

A corpus's `close()` ends the reading of its iterators (`closing.py`): call it before
deleting an iterator that is still reading, when the program goes on; corpora that were
read are closed at exit.

A sample that cannot be used (unreadable file, image bytes that do not decode, no
caption, a caption that is empty after canonicalisation...) is skipped and counted by
reason in a `SkippedSamples`, never raised: one bad JPEG must not end a long run.
"""

from keras_siglip.data.corpus.formats import FORMATS, corpus_captions, corpus_files, open_corpus
from keras_siglip.data.corpus.stages import REASONS, SkippedSamples, no_usable_sample_error
from keras_siglip.data.corpus.tables import TABLE_EXTENSIONS, caption_table_corpus
from keras_siglip.data.corpus.tfrecord import TFRECORD_EXTENSIONS, tfrecord_corpus
from keras_siglip.data.corpus.webdataset import WEBDATASET_IMAGE_EXTENSIONS, webdataset_corpus

__all__ = [
    "FORMATS",
    "REASONS",
    "TABLE_EXTENSIONS",
    "TFRECORD_EXTENSIONS",
    "WEBDATASET_IMAGE_EXTENSIONS",
    "SkippedSamples",
    "caption_table_corpus",
    "corpus_captions",
    "corpus_files",
    "no_usable_sample_error",
    "open_corpus",
    "tfrecord_corpus",
    "webdataset_corpus",
]
