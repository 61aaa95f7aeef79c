"""Image-to-text and text-to-image retrieval recall@k."""

import numpy as np


def recall_at_k(similarity, k):
    """Share of rows whose positive (the diagonal) ranks among the top `k`.

    A positive tied with a negative counts as ranked below it, so a constant
    similarity scores 0, not 1.

    Args:
        similarity: `(num_queries, num_candidates)` array; query `i`'s positive is
            candidate `i`.
        k: positive integer.

    Example:

    >>> recall_at_k(np.array([[0.9, 0.1], [0.8, 0.2]]), k=1)
    0.5
    """
    similarity = np.asarray(similarity)
    if similarity.ndim != 2 or similarity.shape[0] > similarity.shape[1]:
        raise ValueError(
            "`similarity` must be (num_queries, num_candidates) with at least as many "
            f"candidates as queries; got shape {similarity.shape}."
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"`k` must be a positive integer, got {k!r}.")
    rows = np.arange(similarity.shape[0])
    positive = similarity[rows, rows][:, None]
    rank = np.sum(similarity >= positive, axis=1) - 1
    return float(np.mean(rank < k))


def retrieval_metrics(image_embeddings, text_embeddings, ks=(1, 5)):
    """Recall@k both ways for paired embeddings (image `i` goes with text `i`).

    Returns:
        A dict with `i2t_recall@k` and `t2i_recall@k` for each `k`, and
        `retrieval_candidates` (how many candidates each query ranks; chance@k is
        `k / retrieval_candidates`).
    """
    similarity = np.asarray(image_embeddings) @ np.asarray(text_embeddings).T
    metrics = {}
    for k in ks:
        metrics[f"i2t_recall@{k}"] = recall_at_k(similarity, k)
        metrics[f"t2i_recall@{k}"] = recall_at_k(similarity.T, k)
    metrics["retrieval_candidates"] = int(similarity.shape[1])
    return metrics
