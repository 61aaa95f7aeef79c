"""Image-to-text and text-to-image retrieval recall@k.

Offline, on the embeddings of a held-out set (`recall_at_k`, `retrieval_metrics`,
NumPy), and in-batch, as a Keras metric of what `SigLIP.call` returns during `fit`
and `evaluate` (`RetrievalRecall`, `keras.ops`). Both rank with the same rule:
a query's rank is the number of other candidates scoring at least as high as its
positive, so a negative tied with the positive ranks above it, and a NaN positive
ranks last.
"""

import keras
import numpy as np
from keras import ops

DIRECTIONS = ("image_to_text", "text_to_image")
# Queries `RetrievalRecall` ranks at a time when it receives embeddings (batches
# trained through the chunked loss): a block holds `QUERY_BLOCK_SIZE x batch`
# similarities, so the metric never forms the `batch x batch` matrix that the
# chunked loss exists to avoid.
QUERY_BLOCK_SIZE = 1024


def positive_ranks(scores, positives):
    """Rank of each query's positive among its candidates (0 is first).

    Args:
        scores: `(num_queries, num_candidates)` array.
        positives: `(num_queries,)` column index of each query's positive.

    Returns:
        `(num_queries,)` int array: how many other candidates score at least as
        high as the positive (ties rank above it); `num_candidates` for a NaN
        positive.
    """
    scores = np.asarray(scores)
    positive = scores[np.arange(scores.shape[0]), positives][:, None]
    rank = np.sum(scores >= positive, axis=1) - 1
    return np.where(np.isnan(positive[:, 0]), scores.shape[1], rank)


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
    check_k(k)
    rank = positive_ranks(similarity, np.arange(similarity.shape[0]))
    return float(np.mean(rank < k))


def retrieval_metrics(image_embeddings, text_embeddings, ks=(1, 5), queries=None):
    """Recall@k both ways for paired embeddings (image `i` goes with text `i`).

    Args:
        image_embeddings: `(num_items, dim)` array.
        text_embeddings: `(num_items, dim)` array.
        ks: the `k` of each recall@k.
        queries: optional boolean mask `(num_items,)` of the items whose queries
            count (item `i`'s image in image-to-text, its text in text-to-image);
            every item stays a candidate. Recall over a subset of queries: the
            recall over all items is the subsets' recalls weighted by their sizes.

    Returns:
        A dict with `i2t_recall@k` and `t2i_recall@k` for each `k`, and
        `retrieval_candidates` (how many candidates each query ranks; chance@k is
        `k / retrieval_candidates`).

    Example:

    >>> retrieval_metrics(np.eye(2), np.array([[0.6, 0.8], [0.0, 1.0]]), ks=(1,))
    {'i2t_recall@1': 1.0, 't2i_recall@1': 0.5, 'retrieval_candidates': 2}
    >>> texts = np.array([[0.6, 0.8], [0.0, 1.0]])
    >>> retrieval_metrics(np.eye(2), texts, ks=(1,), queries=[True, False])
    {'i2t_recall@1': 1.0, 't2i_recall@1': 0.0, 'retrieval_candidates': 2}
    """
    similarity = np.asarray(image_embeddings) @ np.asarray(text_embeddings).T
    if similarity.shape[0] != similarity.shape[1]:
        raise ValueError(
            "`image_embeddings` and `text_embeddings` must hold the same number of items; got "
            f"{similarity.shape[0]} images and {similarity.shape[1]} texts."
        )
    if queries is None:
        selected = np.arange(similarity.shape[0])
    else:
        mask = np.asarray(queries)
        if mask.dtype != bool or mask.shape != (similarity.shape[0],):
            raise ValueError(
                f"`queries` must be a boolean mask of shape ({similarity.shape[0]},); got dtype "
                f"{mask.dtype} and shape {mask.shape}."
            )
        if not mask.any():
            raise ValueError("`queries` selects no item; at least one query is needed.")
        selected = np.flatnonzero(mask)
    metrics = {}
    for k in ks:
        check_k(k)
        for key, scores in (("i2t", similarity), ("t2i", similarity.T)):
            rank = positive_ranks(scores[selected], selected)
            metrics[f"{key}_recall@{k}"] = float(np.mean(rank < k))
    metrics["retrieval_candidates"] = int(similarity.shape[1])
    return metrics


@keras.saving.register_keras_serializable(package="keras_siglip")
class RetrievalRecall(keras.metrics.Metric):
    """In-batch retrieval recall@k, for `compile(metrics=[...])`.

    Each image of a batch queries the batch's texts (`"image_to_text"`), or each
    text the images (`"text_to_image"`); a query scores a hit when its own pair
    ranks among the top `k` (ties as in `recall_at_k`). The result is the share of
    hits among all queries since the last reset. Every query ranks only its own
    batch, so chance is `k / batch_size` and values at different batch sizes are
    not comparable; for recall on a fixed held-out set use the
    `RetrievalEvaluation` callback.

    `y_pred` is what `SigLIP.call` returns: the `(batch, batch)` logits (image
    `i` pairs with text `i`), or, for a batch trained through the chunked loss, the
    dict of L2-normalised `image_embeddings` and `text_embeddings`. Embeddings are
    ranked by cosine similarity, which orders the pairs as the logits do (the
    logits are `exp(log_temperature) > 0` times it plus a constant), in blocks of
    `QUERY_BLOCK_SIZE` queries. `y_true` is ignored: the pairs are the labels.

    Args:
        k: positive integer.
        direction: `"image_to_text"` or `"text_to_image"`.
        name: defaults to `batch_i2t_recall@k` or `batch_t2i_recall@k`.
        dtype: dtype of the result.

    Example:

    >>> metric = RetrievalRecall(k=1)
    >>> metric.update_state(None, np.array([[2.0, 1.0], [3.0, 0.0]]))
    >>> float(metric.result())
    0.5
    >>> metric.name
    'batch_i2t_recall@1'
    """

    def __init__(self, k=1, direction="image_to_text", name=None, dtype=None):
        check_k(k)
        if direction not in DIRECTIONS:
            raise ValueError(f"`direction` must be one of {DIRECTIONS}; got {direction!r}.")
        if name is None:
            name = f"batch_{'i2t' if direction == 'image_to_text' else 't2i'}_recall@{k}"
        super().__init__(name=name, dtype=dtype)
        self.k = int(k)
        self.direction = direction
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.queries = self.add_variable(shape=(), initializer="zeros", name="queries")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                "`RetrievalRecall` weighs every query of the batch equally; "
                "`sample_weight` must be None (pass it in `metrics`, not "
                f"`weighted_metrics`); got {type(sample_weight).__name__}."
            )
        images, texts = _embedding_pair(y_pred)
        if images is None:
            scores = _square_logits(y_pred)
            if self.direction == "text_to_image":
                scores = ops.transpose(scores)
            hits = _block_hits(scores, 0, self.k)
            num_queries = ops.shape(scores)[0]
        else:
            queries, candidates = (
                (images, texts) if self.direction == "image_to_text" else (texts, images)
            )
            hits = _embedding_hits(queries, candidates, self.k)
            num_queries = ops.shape(queries)[0]
        self.hits.assign_add(ops.cast(hits, self.hits.dtype))
        self.queries.assign_add(ops.cast(num_queries, self.queries.dtype))

    def result(self):
        return ops.divide_no_nan(self.hits, self.queries)

    def get_config(self):
        return {**super().get_config(), "k": self.k, "direction": self.direction}


def check_k(k):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"`k` must be a positive integer, got {k!r}.")


def _embedding_pair(y_pred):
    """`(image_embeddings, text_embeddings)` if `y_pred` holds them, else `(None, None)`."""
    keys = ("image_embeddings", "text_embeddings")
    if isinstance(y_pred, dict):
        if not set(keys) <= set(y_pred):
            raise ValueError(
                "A dict `y_pred` must hold 'image_embeddings' and 'text_embeddings' "
                f"(what `SigLIP.call` returns for chunked-loss batches); got keys "
                f"{sorted(y_pred)}."
            )
        return y_pred[keys[0]], y_pred[keys[1]]
    if all(hasattr(y_pred, key) for key in keys):
        return getattr(y_pred, keys[0]), getattr(y_pred, keys[1])
    return None, None


def _square_logits(y_pred):
    logits = ops.cast(y_pred, "float32")
    shape = tuple(logits.shape)
    if len(shape) != 2 or (None not in shape and shape[0] != shape[1]):
        raise ValueError(
            "`y_pred` must be the (batch, batch) logits of paired images and texts, or "
            "a dict of 'image_embeddings' and 'text_embeddings'; got shape "
            f"{shape}."
        )
    return logits


def _embedding_hits(queries, candidates, k):
    """Hits of queries `i` whose candidate `i` ranks in the top `k`, block by block."""
    queries = ops.cast(queries, "float32")
    candidates = ops.transpose(ops.cast(candidates, "float32"))
    num_queries, dim = ops.shape(queries)
    block = QUERY_BLOCK_SIZE
    if isinstance(num_queries, int) and num_queries <= block:
        return _block_hits(ops.matmul(queries, candidates), 0, k)
    # A batch size unknown while tracing (TensorFlow) is a tensor: so are these.
    num_blocks = (num_queries + block - 1) // block
    queries = ops.pad(queries, [[0, num_blocks * block - num_queries], [0, 0]])

    def add_block(index, total):
        first = index * block
        scores = ops.matmul(ops.slice(queries, (first, 0), (block, dim)), candidates)
        return total + _block_hits(scores, first, k, num_queries)

    return ops.fori_loop(0, num_blocks, add_block, ops.zeros((), "float32"))


def _block_hits(scores, first_query, k, num_queries=None):
    """Hits among rows of `scores`; row `r` is query `first_query + r`.

    The positive of query `q` is column `q`. Rows from `num_queries` on are padding
    and never count.
    """
    num_rows, num_candidates = ops.shape(scores)
    queries = ops.arange(num_rows, dtype="int32") + first_query
    is_positive = ops.equal(
        ops.expand_dims(ops.arange(num_candidates, dtype="int32"), 0),
        ops.expand_dims(queries, 1),
    )
    positive = ops.sum(ops.where(is_positive, scores, 0.0), axis=1, keepdims=True)
    above = ops.logical_and(ops.greater_equal(scores, positive), ops.logical_not(is_positive))
    rank = ops.sum(ops.cast(above, "int32"), axis=1)
    rank = ops.where(ops.isnan(positive[:, 0]), num_candidates, rank)
    hit = ops.less(rank, k)
    if num_queries is not None:
        hit = ops.logical_and(hit, ops.less(queries, num_queries))
    return ops.sum(ops.cast(hit, "float32"))
