"""Retrieval recall@k on hand-computed cases."""

import numpy as np
import pytest

from keras_siglip.evaluation import recall_at_k, retrieval_metrics


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


def test_retrieval_metrics_both_ways():
    images = np.eye(3)
    texts = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])
    metrics = retrieval_metrics(images, texts, ks=(1, 2))
    assert metrics["i2t_recall@1"] == pytest.approx(1 / 3)
    assert metrics["t2i_recall@1"] == pytest.approx(1 / 3)
    assert metrics["retrieval_candidates"] == 3


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match=r"got shape \(3, 2\)"):
        recall_at_k(np.zeros((3, 2)), 1)
    with pytest.raises(ValueError, match="`k` must be a positive integer, got 0"):
        recall_at_k(np.zeros((2, 2)), 0)
