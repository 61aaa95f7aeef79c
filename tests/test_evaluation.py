"""Retrieval recall@k: offline on hand-computed cases, in-batch as a Keras metric in fit."""

import math
import types

import keras
import numpy as np
import pytest
from helpers import pico, random_batch

from keras_siglip import losses
from keras_siglip.evaluation import (
    RetrievalRecall,
    augmented_image_encoder,
    compiled_encoder,
    recall_at_k,
    retrieval,
    retrieval_metrics,
)

IMAGE_SIZE, LENGTH, VOCABULARY = 32, 8, 50


def pairs(rng, size):
    return random_batch(rng, size, IMAGE_SIZE, LENGTH, VOCABULARY)


def metric_value(y_pred, k=1, direction="image_to_text"):
    metric = RetrievalRecall(k=k, direction=direction)
    metric.update_state(None, y_pred)
    return float(keras.ops.convert_to_numpy(metric.result()))


def unit(rows):
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype("float32")


# --- recall_at_k and retrieval_metrics (NumPy) ----------------------------------


def test_recall_at_k_counts_ranks_of_the_diagonal():
    similarity = np.array(
        [
            [0.9, 0.1, 0.0],  # positive first
            [0.5, 0.4, 0.6],  # positive third
            [0.2, 0.3, 0.25],  # positive second
        ]
    )
    assert recall_at_k(similarity, 1) == pytest.approx(1 / 3)
    assert recall_at_k(similarity, 2) == pytest.approx(2 / 3)
    assert recall_at_k(similarity, 3) == pytest.approx(1.0)
    # Columns: texts 0 and 1 find their image first; text 2 ranks image 1 above image 2.
    assert recall_at_k(similarity.T, 1) == pytest.approx(2 / 3)


def test_ties_do_not_count_as_hits():
    assert recall_at_k(np.ones((4, 4)), 1) == 0.0
    assert recall_at_k(np.ones((4, 4)), 4) == 1.0


def test_a_nan_positive_ranks_last():
    similarity = np.array([[np.nan, 0.1], [0.3, 0.4]])
    assert recall_at_k(similarity, 1) == 0.5
    assert recall_at_k(similarity, 2) == 0.5


def test_retrieval_metrics_both_ways():
    images = np.eye(3)
    texts = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])
    metrics = retrieval_metrics(images, texts, ks=(1, 2))
    assert metrics["i2t_recall@1"] == pytest.approx(1 / 3)
    assert metrics["t2i_recall@1"] == pytest.approx(1 / 3)
    assert metrics["retrieval_candidates"] == 3


def test_retrieval_metrics_over_a_subset_of_queries_ranks_among_every_candidate():
    # Hand-counted: the similarity of test_recall_at_k_counts_ranks_of_the_diagonal as
    # image x text scores. Ranks of the positives along rows (i2t): 0, 2, 1; down the
    # columns (t2i): 0, 0, 1.
    similarity = np.array([[0.9, 0.1, 0.0], [0.5, 0.4, 0.6], [0.2, 0.3, 0.25]])
    images, texts = similarity, np.eye(3)
    metrics = retrieval_metrics(images, texts, ks=(1, 2), queries=np.array([False, True, True]))
    assert metrics["i2t_recall@1"] == 0.0  # ranks 2 and 1
    assert metrics["i2t_recall@2"] == 0.5
    assert metrics["t2i_recall@1"] == 0.5  # ranks 0 and 1
    assert metrics["t2i_recall@2"] == 1.0
    assert metrics["retrieval_candidates"] == 3
    # The whole set's recall is the subsets' recalls weighted by their sizes.
    whole = retrieval_metrics(images, texts, ks=(1, 2))
    first = retrieval_metrics(images, texts, ks=(1, 2), queries=np.array([True, False, False]))
    for key in ("i2t_recall@1", "t2i_recall@1", "i2t_recall@2", "t2i_recall@2"):
        assert whole[key] == pytest.approx((first[key] + 2 * metrics[key]) / 3)


def test_retrieval_metrics_explains_bad_queries_and_unpaired_sets():
    with pytest.raises(
        ValueError, match=r"boolean mask of shape \(2,\); got dtype int64 and shape \(2,\)"
    ):
        retrieval_metrics(np.eye(2), np.eye(2), queries=np.array([1, 0]))
    with pytest.raises(ValueError, match=r"`queries` selects no item"):
        retrieval_metrics(np.eye(2), np.eye(2), queries=np.array([False, False]))
    with pytest.raises(ValueError, match="same number of items; got 3 images and 2 texts"):
        retrieval_metrics(np.ones((3, 2)), np.eye(2))


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match=r"got shape \(3, 2\)"):
        recall_at_k(np.zeros((3, 2)), 1)
    with pytest.raises(ValueError, match="`k` must be a positive integer, got 0"):
        recall_at_k(np.zeros((2, 2)), 0)


# --- RetrievalRecall on logits and on embeddings -------------------------------


# Rows are images, columns texts; the hand-counted ranks of the positives are
# 0, 2, 1, 0 along the rows (i2t) and 0, 1, 0, 1 down the columns (t2i).
HAND_LOGITS = np.array(
    [
        [3.0, 1.0, 0.0, 2.0],
        [1.0, 0.5, 0.9, 0.2],
        [2.0, 0.0, 1.0, 0.5],
        [0.0, 0.0, 0.5, 0.8],
    ],
    "float32",
)


@pytest.mark.parametrize(
    "direction,k,expected",
    [
        ("image_to_text", 1, 2 / 4),
        ("image_to_text", 2, 3 / 4),
        ("image_to_text", 3, 1.0),
        ("text_to_image", 1, 2 / 4),
        ("text_to_image", 2, 1.0),
    ],
)
def test_metric_on_hand_counted_logits(direction, k, expected):
    assert metric_value(HAND_LOGITS, k, direction) == pytest.approx(expected)
    reference = HAND_LOGITS if direction == "image_to_text" else HAND_LOGITS.T
    assert recall_at_k(reference, k) == pytest.approx(expected)


def test_metric_follows_the_tie_rule_of_recall_at_k():
    ties = np.array(
        [
            [1.0, 1.0, 0.0],  # positive tied with a negative: rank 1
            [0.0, 2.0, 2.0],  # rank 1
            [5.0, 5.0, 5.0],  # rank 2
        ],
        "float32",
    )
    for matrix in (ties, np.ones((4, 4), "float32")):
        for direction, reference in (("image_to_text", matrix), ("text_to_image", matrix.T)):
            for k in (1, 2, 3):
                assert metric_value(matrix, k, direction) == pytest.approx(
                    recall_at_k(reference, k)
                ), (matrix, direction, k)
    assert metric_value(ties, 1) == 0.0 and metric_value(ties, 2) == pytest.approx(2 / 3)
    nan_positive = np.array([[np.nan, 0.1], [0.3, 0.4]], "float32")
    assert metric_value(nan_positive, 2) == recall_at_k(nan_positive, 2) == 0.5


def test_metric_averages_queries_over_batches_against_numpy(rng):
    batches = [rng.normal(size=(size, size)).astype("float32") for size in (5, 3, 7)]
    for direction in retrieval.DIRECTIONS:
        for k in (1, 2):
            metric = RetrievalRecall(k=k, direction=direction)
            for logits in batches:
                metric.update_state(None, logits)
            hits = sum(
                len(logits) * recall_at_k(logits if direction == "image_to_text" else logits.T, k)
                for logits in batches
            )
            assert float(metric.result()) == pytest.approx(hits / 15)
    metric.reset_state()
    assert float(metric.result()) == 0.0


@pytest.mark.parametrize("block_size", [1024, 3])
def test_metric_on_embeddings_ranks_like_the_logits(rng, monkeypatch, block_size):
    # A block of 3 queries splits the batch of 8 into blocks 3, 3 and 2 (+1 padding).
    monkeypatch.setattr(retrieval, "QUERY_BLOCK_SIZE", block_size)
    images, texts = unit(rng.normal(size=(8, 5))), unit(rng.normal(size=(8, 5)))
    # Pull a few pairs together so that recall@1 is neither 0 nor 1.
    texts[:4] = unit(texts[:4] + 3 * images[:4])
    similarity = images.astype(np.float64) @ texts.T.astype(np.float64)
    logits = (math.exp(1.7) * similarity - 3.0).astype("float32")
    embeddings = {"image_embeddings": images, "text_embeddings": texts}
    for direction, reference in (("image_to_text", similarity), ("text_to_image", similarity.T)):
        for k in (1, 3):
            expected = recall_at_k(reference, k)
            assert metric_value(embeddings, k, direction) == pytest.approx(expected)
            assert metric_value(logits, k, direction) == pytest.approx(expected)
    assert 0.0 < recall_at_k(similarity, 1) < 1.0
    pair = types.SimpleNamespace(**embeddings)
    assert metric_value(pair, 3) == pytest.approx(recall_at_k(similarity, 3))


def test_metric_on_embeddings_with_exact_ties(monkeypatch):
    monkeypatch.setattr(retrieval, "QUERY_BLOCK_SIZE", 2)
    # Small integers: every dot product is exact, so the ties are real ties.
    images = np.array([[1, 0], [1, 0], [0, 1], [1, 1], [2, 0]], "float32")
    texts = np.array([[1, 0], [1, 0], [1, 1], [0, 1], [1, 0]], "float32")
    embeddings = {"image_embeddings": images, "text_embeddings": texts}
    similarity = images @ texts.T
    for direction, reference in (("image_to_text", similarity), ("text_to_image", similarity.T)):
        for k in (1, 2, 4):
            assert metric_value(embeddings, k, direction) == pytest.approx(
                recall_at_k(reference, k)
            ), (direction, k)
    ones = np.ones((5, 3), "float32")
    assert metric_value({"image_embeddings": ones, "text_embeddings": ones}, 4) == 0.0


def test_metric_on_embeddings_in_a_compiled_function(rng, monkeypatch):
    # As in a compiled train step. TensorFlow traces without a batch size when a
    # dataset's last batch may be short: the blocks are then counted by tensors.
    backend = keras.backend.backend()
    if backend == "torch":
        pytest.skip("PyTorch runs the metric eagerly; the other tests cover it.")
    monkeypatch.setattr(retrieval, "QUERY_BLOCK_SIZE", 3)
    images, texts = unit(rng.normal(size=(7, 4))), unit(rng.normal(size=(7, 4)))
    texts[:3] = unit(texts[:3] + 3 * images[:3])
    expected = recall_at_k(images @ texts.T, 2)
    metric = RetrievalRecall(k=2)
    if backend == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None, 4), tf.float32)

        @tf.function(input_signature=[spec, spec])
        def update(image_embeddings, text_embeddings):
            pair = {"image_embeddings": image_embeddings, "text_embeddings": text_embeddings}
            metric.update_state(None, pair)

        update(images, texts)
        result = float(metric.result())
    else:
        import jax

        @jax.jit
        def update(variables, pair):
            return metric.stateless_update_state(variables, None, pair)

        variables = update(
            [variable.value for variable in metric.variables],
            {"image_embeddings": images, "text_embeddings": texts},
        )
        result = float(metric.stateless_result(variables))
    assert result == pytest.approx(expected)


def test_metric_config_round_trip():
    metric = RetrievalRecall(k=np.int64(5), direction="text_to_image")
    assert metric.name == "batch_t2i_recall@5" and type(metric.k) is int
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert isinstance(restored, RetrievalRecall)
    assert restored.get_config() == metric.get_config()
    assert RetrievalRecall(name="r1").name == "r1"


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: RetrievalRecall(k=0), "`k` must be a positive integer, got 0"),
        (lambda: RetrievalRecall(k=True), "`k` must be a positive integer, got True"),
        (lambda: RetrievalRecall(direction="both"), r"`direction` must be one of .*got 'both'"),
        (
            lambda: RetrievalRecall().update_state(None, np.zeros((3, 4), "float32")),
            r"\(batch, batch\) logits .*got shape \(3, 4\)",
        ),
        (
            lambda: RetrievalRecall().update_state(None, np.zeros((3,), "float32")),
            r"got shape \(3,\)",
        ),
        (
            lambda: RetrievalRecall().update_state(None, {"image_embeddings": np.zeros((2, 2))}),
            r"must hold 'image_embeddings' and 'text_embeddings'.*got keys \['image_embeddings'\]",
        ),
        (
            lambda: RetrievalRecall().update_state(None, np.eye(2), sample_weight=np.ones(2)),
            "`sample_weight` must be None",
        ),
    ],
)
def test_metric_errors_are_explained(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- RetrievalRecall in SigLIP.compile ------------------------------------------
# One batch of 8 pairs throughout, so that JAX compiles each step function once.


@pytest.fixture(scope="module")
def model():
    return pico(IMAGE_SIZE, LENGTH, VOCABULARY)


def recall_metrics():
    return [
        RetrievalRecall(k=1),
        RetrievalRecall(k=1, direction="text_to_image"),
        RetrievalRecall(k=2),
    ]


def expected_recalls(model, data):
    logits = model.predict(data, batch_size=len(data["images"]), verbose=0)
    return {
        "batch_i2t_recall@1": recall_at_k(logits, 1),
        "batch_t2i_recall@1": recall_at_k(logits.T, 1),
        "batch_i2t_recall@2": recall_at_k(logits, 2),
    }


def check_fit_and_evaluate(model, data):
    # One step over one batch: the metrics see the logits of the weights before it.
    before = expected_recalls(model, data)
    history = model.fit(data, batch_size=8, epochs=1, verbose=0).history
    for name, value in before.items():
        assert history[name] == [pytest.approx(value)], name
    results = model.evaluate(data, batch_size=8, verbose=0, return_dict=True)
    for name, value in expected_recalls(model, data).items():
        assert results[name] == pytest.approx(value), name


@pytest.mark.slow
def test_metric_in_fit_and_evaluate(rng, model):
    model.compile(metrics=recall_metrics())
    check_fit_and_evaluate(model, pairs(rng, 8))


@pytest.mark.slow
def test_metric_in_fit_with_the_chunked_loss(rng):
    # A model of its own: on JAX, a `fit` that raises leaves the model's variables
    # emptied (the trainer holds their values while it runs).
    model = pico(IMAGE_SIZE, LENGTH, VOCABULARY)
    model.compile(loss=losses.SigmoidLoss(chunk_size=3), metrics=recall_metrics())
    check_fit_and_evaluate(model, pairs(rng, 8))


@pytest.mark.slow
def test_metric_survives_a_keras_file_round_trip(rng, model, tmp_path):
    model.compile(metrics=[RetrievalRecall(k=2, direction="text_to_image")])
    data = pairs(rng, 8)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    results = restored.evaluate(data, batch_size=8, verbose=0, return_dict=True)
    logits = model.predict(data, batch_size=8, verbose=0)
    assert results["batch_t2i_recall@2"] == pytest.approx(recall_at_k(logits.T, 2))


# --- augmented_image_encoder (test-time augmentation) ---------------------------------


def test_augmented_image_encoder_against_numpy(rng):
    weights = rng.normal(size=(6, 4))

    def encode(images):
        return images.reshape(len(images), -1) @ weights

    def augment(images, generator):
        return images + generator.normal(size=images.shape).astype(images.dtype)

    images = rng.normal(size=(3, 2, 3)).astype("float32")
    embed = augmented_image_encoder(encode, augment, copies=4, seed=7)
    generator = np.random.default_rng(7)
    views = [images] + [
        images + generator.normal(size=images.shape).astype("float32") for _ in range(4)
    ]
    expected = unit(sum(unit(view.reshape(3, -1).astype("float64") @ weights) for view in views))
    result = embed(images)
    assert result.dtype == np.float32 and result.shape == (3, 4)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
    # The same batch gets the same augmentations on every call; no copies is the plain view.
    np.testing.assert_array_equal(embed(images), result)
    np.testing.assert_allclose(
        augmented_image_encoder(encode, augment, copies=0)(images), unit(encode(images)), rtol=1e-6
    )
    assert not np.allclose(
        augmented_image_encoder(encode, augment, copies=4, seed=8)(images), result
    )


def test_augmented_image_encoder_of_a_siglip_with_the_training_augmentation(rng):
    from keras_siglip.data import augment
    from keras_siglip.evaluation import embed_in_batches

    model = pico(IMAGE_SIZE, LENGTH, VOCABULARY)
    images = pairs(rng, 5)["images"]
    plain = keras.ops.convert_to_numpy(model.encode_images(images))
    same = augmented_image_encoder(model.encode_images, lambda x, generator: x, copies=3)
    np.testing.assert_allclose(embed_in_batches(same, images, 2), plain, atol=1e-5)
    augmented = embed_in_batches(
        augmented_image_encoder(model.encode_images, augment, copies=3), images, 5
    )
    np.testing.assert_allclose(np.linalg.norm(augmented, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(augmented, plain, atol=1e-4)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"copies": -1}, "`copies` must be a non-negative integer; got -1"),
        ({"copies": True}, "`copies` must be a non-negative integer; got True"),
        ({"augment": None}, "`encode` and `augment` must be callables; got function and NoneType"),
    ],
)
def test_augmented_image_encoder_errors_are_explained(arguments, message):
    arguments = {"encode": lambda x: x, "augment": lambda x, generator: x, "copies": 2, **arguments}
    with pytest.raises(ValueError, match=message):
        augmented_image_encoder(**arguments)


def test_compiled_encoder_matches_the_models_encoders_on_this_backend(rng):
    model = pico(IMAGE_SIZE, LENGTH, VOCABULARY)
    batch = pairs(rng, 6)
    for tower, encode, inputs in (
        (model.image_encoder, model.encode_images, batch["images"]),
        (model.text_encoder, model.encode_texts, batch["token_ids"]),
    ):
        compiled = compiled_encoder(tower)(inputs)
        assert isinstance(compiled, np.ndarray) and compiled.dtype == np.float32
        np.testing.assert_allclose(compiled, keras.ops.convert_to_numpy(encode(inputs)), atol=2e-5)
    with pytest.raises(
        ValueError,
        match="`tower` must be a Keras model such as `model.image_encoder`; got function",
    ):
        compiled_encoder(lambda x: x)
