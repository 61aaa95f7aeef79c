"""`open_corpus(keep=...)`: a validation hold-out split by sample key, in every format.

The keys are computed here from how the writers name samples (tar member keys, the
table's image paths, a TFRecord file's name and record number), independently of
the readers; each side's captions are then compared with the hold-out's choice.
"""

import os

import keras
import numpy as np
import pytest

from keras_siglip.data import open_corpus, write_corpus
from keras_siglip.data.holdout import HoldOut
from keras_siglip.preprocessing import (
    SigLIPPreprocessor,
    SigLIPTokenizer,
    train_sentencepiece,
)

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="tf.data behaves the same under every Keras backend"
)

COUNT = 40
WORDS = ["red", "blue", "green", "cat", "dog", "bird", "fish", "tree"]
CAPTIONS = [f"{WORDS[i % 8]} {WORDS[i // 8 % 8]} number {i}" for i in range(COUNT)]


def writer_keys(corpus_format, paths):
    """The key of each sample, in writing order, as the writers name them."""
    if corpus_format == "webdataset":
        return [f"{index:09d}" for index in range(COUNT)]
    if corpus_format == "tfrecord":
        per_file = COUNT // len(paths)
        return [
            f"{os.path.basename(paths[index // per_file])}:{index % per_file}"
            for index in range(COUNT)
        ]
    return [f"images/{index:09d}.png" for index in range(COUNT)]


@pytest.fixture(scope="module")
def preprocessor():
    tokenizer = SigLIPTokenizer(
        train_sentencepiece(CAPTIONS * 3, 80, hard_vocab_limit=False), sequence_length=10
    )
    return SigLIPPreprocessor(tokenizer, image_size=8)


@pytest.mark.parametrize("corpus_format", ["webdataset", "tfrecord", "csv"])
def test_keep_splits_each_format_by_key(corpus_format, preprocessor, tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (COUNT, 8, 8, 3), dtype=np.uint8)
    options = {"webdataset": {"samples_per_shard": 10}, "tfrecord": {"samples_per_file": 10}}
    paths = write_corpus(
        tmp_path,
        corpus_format,
        images,
        CAPTIONS,
        image_format="png",
        **options.get(corpus_format, {}),
    )
    split = HoldOut(0.3)
    keys = writer_keys(corpus_format, paths)
    expected = {caption for key, caption in zip(keys, CAPTIONS) if split.is_validation(key)}
    assert 3 <= len(expected) <= COUNT - 3, "the split holds out some samples, not all"
    tokenized = {
        tuple(ids): caption for ids, caption in zip(preprocessor.tokenizer(CAPTIONS), CAPTIONS)
    }

    def captions_read(keep):
        dataset = open_corpus(
            str(tmp_path),
            preprocessor,
            batch_size=4,
            keep=keep,
            repeat=False,
            shuffle_buffer=0,
            drop_remainder=False,
        )
        ids = np.concatenate([batch["token_ids"] for batch in dataset.as_numpy_iterator()])
        return [tokenized[tuple(row)] for row in ids], dataset.skipped

    validation, skipped = captions_read(split.is_validation)
    assert sorted(validation) == sorted(expected) and skipped.read == len(expected)
    training, _ = captions_read(split.keep)
    assert sorted(training) == sorted(set(CAPTIONS) - expected)


def test_keep_must_be_a_function(preprocessor, tmp_path):
    write_corpus(tmp_path, "webdataset", np.zeros((2, 8, 8, 3), "uint8"), CAPTIONS[:2])
    with pytest.raises(TypeError, match="`keep` must be a function key -> bool or None, got 0.5"):
        open_corpus(str(tmp_path), preprocessor, batch_size=1, keep=0.5)
