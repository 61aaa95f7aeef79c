"""Evaluation callbacks: what they write into the logs of `fit`, and their errors."""

import numpy as np
import pytest
from test_evaluation import IMAGE_SIZE, LENGTH, VOCABULARY, pairs, pico

from keras_siglip.evaluation import (
    RetrievalEvaluation,
    ZeroShotClassifier,
    ZeroShotEvaluation,
    retrieval_metrics,
)
from keras_siglip.evaluation.embedding import embed_in_batches

CLASS_NAMES = ["cat", "dog", "car"]
TEMPLATES = ["a {}", "the {}"]


def tokenizer(texts):
    """One id per character, padded with spaces to the model's length."""
    return np.array(
        [[ord(c) % VOCABULARY for c in text[:LENGTH].ljust(LENGTH)] for text in texts], "int32"
    )


@pytest.mark.slow
def test_callbacks_write_their_metrics_into_the_history_of_fit(rng):
    model = pico(IMAGE_SIZE, LENGTH, VOCABULARY)
    model.compile()
    train, held_out = pairs(rng, 8), pairs(rng, 6)
    labels = np.array([0, 1, 2, 0, 1, 2])
    retrieval = RetrievalEvaluation(
        held_out["images"], held_out["token_ids"], ks=(1, 2), batch_size=4
    )
    zero_shot = ZeroShotEvaluation(
        held_out["images"],
        labels,
        CLASS_NAMES,
        tokenizer,
        TEMPLATES,
        ks=(1, 2),
        every_n_epochs=2,
        batch_size=4,
        prefix="held_out_",
    )
    history = model.fit(
        train, batch_size=8, epochs=2, callbacks=[retrieval, zero_shot], verbose=0
    ).history
    for key in ("val_i2t_recall@1", "val_t2i_recall@1", "val_i2t_recall@2", "val_t2i_recall@2"):
        assert len(history[key]) == 2 and all(0.0 <= v <= 1.0 for v in history[key]), key
    assert history["val_retrieval_candidates"] == [6, 6]
    # Every second epoch only: once in two epochs.
    assert len(history["held_out_zero_shot_top1"]) == 1
    assert len(history["held_out_zero_shot_top2"]) == 1

    # The last epoch's numbers are those of the model fit leaves behind.
    image_embeddings = embed_in_batches(model.encode_images, held_out["images"], 4)
    text_embeddings = embed_in_batches(model.encode_texts, held_out["token_ids"], 4)
    expected = retrieval_metrics(image_embeddings, text_embeddings, ks=(1, 2))
    for key, value in expected.items():
        assert history[f"val_{key}"][-1] == pytest.approx(value), key
    classifier = ZeroShotClassifier(
        model, CLASS_NAMES, TEMPLATES, tokenizer=tokenizer, batch_size=4
    )
    accuracy = classifier.evaluate(held_out["images"], labels, k=(1, 2))
    assert history["held_out_zero_shot_top1"] == [pytest.approx(accuracy["top1"])]
    assert history["held_out_zero_shot_top2"] == [pytest.approx(accuracy["top2"])]


def test_embed_in_batches_pads_the_last_batch_to_one_shape():
    shapes = []

    def encode(batch):
        shapes.append(batch.shape)
        return batch[:, :2] * 2

    inputs = np.arange(15, dtype="float32").reshape(5, 3)
    embedded = embed_in_batches(encode, inputs, 2)
    assert shapes == [(2, 3)] * 3
    np.testing.assert_array_equal(embedded, inputs[:, :2] * 2)
    assert embedded.dtype == np.float32
    shapes.clear()
    embed_in_batches(encode, inputs, 64)
    assert shapes == [(5, 3)]
    # The calls share the examples equally: 9 at most 8 at a time is two calls of 5
    # (one of them padded), not 8 and 1 padded to 8.
    shapes.clear()
    nine = np.arange(27, dtype="float32").reshape(9, 3)
    np.testing.assert_array_equal(embed_in_batches(encode, nine, 8), nine[:, :2] * 2)
    assert shapes == [(5, 3)] * 2
    with pytest.raises(ValueError, match="`inputs` must hold at least one example"):
        embed_in_batches(encode, inputs[:0], 2)


IMAGES = np.zeros((3, IMAGE_SIZE, IMAGE_SIZE, 3), "float32")
TOKEN_IDS = np.zeros((3, LENGTH), "int32")


@pytest.mark.parametrize(
    "make,message",
    [
        (
            lambda: RetrievalEvaluation(IMAGES, TOKEN_IDS[:2]),
            "must pair up one to one .* got 3 images and 2 token id rows",
        ),
        (lambda: RetrievalEvaluation(IMAGES[:0], TOKEN_IDS[:0]), "at least one pair; got 0 images"),
        (lambda: RetrievalEvaluation(IMAGES, TOKEN_IDS, ks=()), r"`ks` must be a list .*got \(\)"),
        (
            lambda: RetrievalEvaluation(IMAGES, TOKEN_IDS, ks=(1, 0)),
            "`k` must be a positive integer, got 0",
        ),
        (
            lambda: RetrievalEvaluation(IMAGES, TOKEN_IDS, every_n_epochs=0),
            "`every_n_epochs` must be a positive integer, got 0",
        ),
        (
            lambda: RetrievalEvaluation(IMAGES, TOKEN_IDS, batch_size=2.5),
            "`batch_size` must be a positive integer, got 2.5",
        ),
        (lambda: RetrievalEvaluation(IMAGES, TOKEN_IDS, prefix=None), "`prefix` must be a string"),
        (
            lambda: ZeroShotEvaluation(IMAGES, [0, 1, 3], CLASS_NAMES, tokenizer),
            r"`labels` must lie in \[0, 3\) for 3 classes; got \[3\]",
        ),
        (
            lambda: ZeroShotEvaluation(IMAGES, [0, 1], CLASS_NAMES, tokenizer),
            r"shape \(3,\); got shape \(2,\)",
        ),
        (
            lambda: ZeroShotEvaluation(IMAGES, [0, 1, 2], CLASS_NAMES, tokenizer, ks=(1, 5)),
            r"at most the number of classes \(3\); got 5",
        ),
        (
            lambda: ZeroShotEvaluation(IMAGES, [0, 1, 2], ["cat", "cat", "dog"], tokenizer),
            r"`class_names` must be distinct",
        ),
        (
            lambda: ZeroShotEvaluation(IMAGES, [0, 1, 2], CLASS_NAMES, tokenizer, templates=["x"]),
            r"containing '\{\}'",
        ),
        (
            lambda: ZeroShotEvaluation(IMAGES, [0, 1, 2], CLASS_NAMES, "spm"),
            "`tokenizer` must be a callable",
        ),
        (lambda: ZeroShotEvaluation(IMAGES[:0], [], CLASS_NAMES, tokenizer), "at least one image"),
    ],
)
def test_errors_are_raised_before_training(make, message):
    with pytest.raises(ValueError, match=message):
        make()
