"""Closing a corpus: `dataset.close()` ends the reading of its iterators (their readers
run Python inside tf.data threads, and deleting an iterator while one of them waits for
the GIL hangs the process), and corpora still open at exit are closed first."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import run_python

from keras_siglip.data import write_corpus
from keras_siglip.data.corpus import open_corpus
from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer, train_sentencepiece

# The readers are tf.data whatever the Keras backend: tested once, on JAX.
pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="tf.data behaves the same under every Keras backend"
)

WORDS = "red blue green square circle small large dark light bright".split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Sixty 8 x 8 images with their captions, and a vocabulary for them."""
    rng = np.random.default_rng(0)
    captions = [" ".join(rng.choice(WORDS, 3)) for _ in range(60)]
    images = rng.integers(0, 256, (60, 8, 8, 3)).astype("uint8")
    vocabulary = train_sentencepiece(captions * 2, 24)
    return tmp_path_factory.mktemp("close"), images, captions, vocabulary


def written(corpus, corpus_format):
    directory, images, captions, _ = corpus
    target = directory / corpus_format
    options = {
        "webdataset": {"samples_per_shard": 20},
        "tfrecord": {"samples_per_file": 20},
    }.get(corpus_format, {})
    paths = write_corpus(str(target), corpus_format, images, captions, **options)
    return paths[0] if corpus_format in ("csv", "parquet") else str(target)


@pytest.mark.parametrize("corpus_format", ["webdataset", "tfrecord", "csv"])
def test_close_ends_the_iterators_and_a_new_one_raises(corpus, corpus_format):
    path = written(corpus, corpus_format)
    preprocessor = SigLIPPreprocessor(SigLIPTokenizer(corpus[3], sequence_length=6), image_size=8)
    dataset = open_corpus(path, preprocessor, batch_size=4, repeat=True, shuffle_buffer=8)
    iterator = iter(dataset)
    for _ in range(3):
        assert next(iterator)["images"].shape == (4, 8, 8, 3)
    dataset.close()
    # Without the close, this repeated corpus never ends. Those batches that were
    # already prepared still come; the reading stops at the next sample, with no
    # "no usable sample" error for the pass it cut short.
    rest = sum(1 for _ in iterator)
    assert rest < 60
    with pytest.raises(tf.errors.InvalidArgumentError, match="was closed"):
        next(iter(dataset))


@pytest.mark.slow
def test_a_half_read_corpus_does_not_hang_the_exit(tmp_path):
    # A script that stops reading a repeated WebDataset corpus (small shards, a pass
    # per batch) and exits, its iterator still alive: before corpora were closed at
    # exit, about one run in two hung for ever while the interpreter deleted the
    # iterator.
    code = f"""
        import numpy as np
        from keras_siglip.data import write_webdataset
        from keras_siglip.data.corpus import open_corpus
        from keras_siglip.preprocessing import (
            SigLIPPreprocessor, SigLIPTokenizer, train_sentencepiece)
        captions = [f"item number {{i}}" for i in range(12)]
        tokenizer = SigLIPTokenizer(train_sentencepiece(captions * 4, 24), sequence_length=8)
        images = np.random.default_rng(0).integers(0, 255, (12, 8, 8, 3)).astype("uint8")
        paths = write_webdataset({str(tmp_path)!r}, images, captions, samples_per_shard=4)
        dataset = open_corpus(paths, SigLIPPreprocessor(tokenizer, 8), batch_size=12,
                              repeat=True, shuffle_buffer=12)
        iterator = iter(dataset)
        batches = [next(iterator) for _ in range(3)]
        print("read", len(batches))
    """
    for _ in range(3):
        result = run_python(code)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "read 3" in result.stdout
