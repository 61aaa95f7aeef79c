"""Validation recall on held-out pairs, against NumPy ranks of the model's embeddings."""

import keras
import numpy as np
import pytest

from keras_siglip import SigLIP
from keras_siglip.evaluation.validation import (
    held_out_retrieval_metrics,
    preprocessed_batches,
)
from keras_siglip.preprocessing import (
    SigLIPPreprocessor,
    SigLIPTokenizer,
    train_sentencepiece,
)

CAPTIONS = [
    "a red circle",
    "a blue square",
    "a green star",
    "two red squares",
    "one blue star",
    "a small green circle",
    "three stars",
]


def numpy_recall(similarity, k):
    """Share of rows whose diagonal entry is among the row's k largest (ties count against)."""
    diagonal = np.diag(similarity)[:, None]
    ranks = (similarity >= diagonal).sum(axis=1) - 1
    return float((ranks < k).mean())


def unit(x):
    x = keras.ops.convert_to_numpy(x)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_recall_matches_numpy(rng):
    tokenizer = SigLIPTokenizer(
        train_sentencepiece(CAPTIONS * 4, 30, hard_vocab_limit=False), sequence_length=6
    )
    preprocessor = SigLIPPreprocessor(tokenizer, image_size=16)
    model = SigLIP.from_variant(
        "Pico/8", image_size=16, sequence_length=6, vocabulary_size=tokenizer.vocabulary_size
    )
    images = rng.uniform(0, 1, (len(CAPTIONS), 20, 24, 3)).astype("float32")
    metrics = held_out_retrieval_metrics(
        model, preprocessed_batches(images, CAPTIONS, preprocessor, batch_size=3)
    )

    inputs = preprocessor({"images": images, "texts": CAPTIONS})
    similarity = (
        unit(model.encode_images(inputs["images"]))
        @ unit(model.encode_texts(inputs["token_ids"])).T
    )
    assert metrics["validation_samples"] == len(CAPTIONS)
    for k in (1, 5):
        assert metrics[f"validation_i2t_recall@{k}"] == pytest.approx(numpy_recall(similarity, k))
        assert metrics[f"validation_t2i_recall@{k}"] == pytest.approx(numpy_recall(similarity.T, k))
    assert sorted(metrics) == sorted(
        ["validation_samples"]
        + [f"validation_{d}_recall@{k}" for d in ("i2t", "t2i") for k in (1, 5)]
    )


def test_refuses_no_pairs():
    model = SigLIP.from_variant("Pico/8", image_size=16, sequence_length=6, vocabulary_size=30)
    with pytest.raises(ValueError, match="holds no pairs"):
        held_out_retrieval_metrics(model, [])
