"""Datasets: the embedded one (no download), and pipelines for corpora on disk."""

from keras_siglip.data.corpus import (
    REASONS,
    SkippedSamples,
    caption_table_corpus,
    corpus_captions,
    corpus_files,
    open_corpus,
    tfrecord_corpus,
    webdataset_corpus,
)
from keras_siglip.data.emoji import (
    EmojiDataset,
    ImageTextSplit,
    augment,
    known_word_mask,
    load_emoji,
)
from keras_siglip.data.holdout import HoldOut
from keras_siglip.data.writers import (
    encode_image,
    write_caption_table,
    write_corpus,
    write_tfrecord,
    write_webdataset,
)

__all__ = [
    "REASONS",
    "EmojiDataset",
    "HoldOut",
    "ImageTextSplit",
    "SkippedSamples",
    "augment",
    "caption_table_corpus",
    "corpus_captions",
    "corpus_files",
    "encode_image",
    "known_word_mask",
    "load_emoji",
    "open_corpus",
    "tfrecord_corpus",
    "webdataset_corpus",
    "write_caption_table",
    "write_corpus",
    "write_tfrecord",
    "write_webdataset",
]
