"""The paper's pairwise sigmoid loss.

For `B` image embeddings `x_i` and text embeddings `y_j` (already L2-normalised):

    logit_ij = exp(log_temperature) * <x_i, y_j> + bias
    z_ij     = +1 if i == j else -1
    loss     = -(1 / B) * sum_ij log_sigmoid(z_ij * logit_ij)

The sum runs over all pairs and is divided by `B` (the number of images), not by
`B * B`. `-log_sigmoid(u)` is evaluated as `softplus(-u)` in float32, which is finite
and has a finite gradient for any finite logit, also when the embeddings come from a
bfloat16 or float16 model.

Two strategies compute it with the same per-pair maths (`chunked.py`): the dense
one forms all `num_images x num_texts` logits at once; `chunk_size=N` sweeps
`N x N` tiles of them and never holds more than a few tiles, in the forward or the
backward pass, which is what lets the batch grow past what `B x B` logits allow.
Under a `keras.distribution` on JAX whose batch axis spans several devices, a third
strategy, the paper's ring (`ring.py`), splits the pairs into per-device blocks.
"""

import keras
from keras import ops

from keras_siglip.losses.chunked import (
    block_loss_sum,
    check_chunk_size,
    chunked_sigmoid_loss,
)
from keras_siglip.losses.logits import check_batches, pairwise_logits, static_batch_size
from keras_siglip.losses.ring import ring_mesh, ring_sigmoid_loss


def sigmoid_loss_from_logits(logits):
    """Sigmoid loss of a `(num_images, num_texts)` logits matrix.

    Pair `(i, i)` is the positive of row `i`; every other pair is a negative. The
    logits must be square and non-empty (a block of negatives only goes through
    `sigmoid_loss(..., positives=False)`).

    Args:
        logits: float tensor of shape `(batch_size, batch_size)`.

    Raises:
        ValueError: the logits are empty or not square (shapes known statically).

    Returns:
        Scalar float32 loss: the sum over all pairs divided by `num_images`.
    """
    check_batches(*_static_shape(logits))
    return block_loss_sum(logits) / _num_rows(logits)


def _static_shape(logits):
    return tuple(size if isinstance(size, int) else None for size in logits.shape)


def sigmoid_loss(
    image_embeddings,
    text_embeddings,
    log_temperature,
    bias,
    positives=True,
    chunk_size=None,
    ring=None,
    bidirectional=False,
):
    """The paper's sigmoid loss of L2-normalised image and text embeddings.

    The embeddings are not normalised again here: `SigLIP.encode_images` and
    `SigLIP.encode_texts` return normalised embeddings.

    Args:
        image_embeddings: `(num_images, dim)` float tensor.
        text_embeddings: `(num_texts, dim)` float tensor. Text `i` is the positive
            of image `i`.
        log_temperature: scalar; logits are scaled by `exp(log_temperature)`.
        bias: scalar added to every logit.
        positives: if `False`, every pair is a negative (the off-diagonal blocks
            of a multi-device loss).
        chunk_size: `None` forms all the logits at once (the dense loss); a
            positive integer computes the loss in `chunk_size x chunk_size` tiles
            of pairs and never holds more (extra memory `O(B * dim + chunk_size^2)`
            instead of `O(B^2)`), with the same value and gradients to float32
            round-off. `losses.DEFAULT_CHUNK_SIZE` (2048) suits CPUs; it need not
            divide the batch size. Under the ring, the tile size within each
            device's block.
        ring: `None` (automatic) computes the paper's multi-device ring loss
            (`losses.ring`) when a `keras.distribution` is active on the JAX
            backend with more than one device on its batch axis, and the
            single-device loss otherwise; `False` forces the single-device loss,
            `True` requires the ring. Same value and gradients either way.
        bidirectional: under the ring, pass the texts to both neighbours at once
            (half the steps).

    Returns:
        Scalar float32 loss, differentiable in all four arguments.

    Raises:
        ValueError: an empty batch, or (with `positives`) as many images as texts
            not given, where the batch sizes are known statically.

    Example:

    >>> import numpy as np
    >>> x = np.eye(4, 8, dtype="float32")
    >>> loss = sigmoid_loss(x, x, np.log(10.0), -10.0)
    >>> round(float(loss), 4)
    0.6933
    >>> chunked = sigmoid_loss(x, x, np.log(10.0), -10.0, chunk_size=3)
    >>> round(float(chunked), 4)
    0.6933
    """
    chunk_size = check_chunk_size(chunk_size)
    check_batches(
        static_batch_size(image_embeddings), static_batch_size(text_embeddings), paired=positives
    )
    mesh = ring_mesh(ring)
    if mesh is not None:
        if not positives:
            raise ValueError("The ring loss computes whole batches: `positives` must be True.")
        return ring_sigmoid_loss(
            image_embeddings,
            text_embeddings,
            log_temperature,
            bias,
            *mesh,
            bidirectional=bidirectional,
            chunk_size=chunk_size,
        )
    if chunk_size is not None:
        return chunked_sigmoid_loss(
            image_embeddings,
            text_embeddings,
            log_temperature,
            bias,
            chunk_size=chunk_size,
            positives=positives,
        )
    logits = pairwise_logits(image_embeddings, text_embeddings, log_temperature, bias)
    return block_loss_sum(logits, 0 if positives else None) / _num_rows(logits)


def _num_rows(logits):
    return ops.cast(ops.shape(logits)[0], "float32")


@keras.saving.register_keras_serializable(package="keras_siglip")
class SigmoidLoss:
    """The paper's sigmoid loss as an object the model can be compiled with.

    `SigmoidLoss(chunk_size)(image_embeddings, text_embeddings, log_temperature,
    bias)` is `sigmoid_loss(..., chunk_size=chunk_size)`;
    `SigmoidLoss().from_logits(logits)` takes logits already computed by
    `SigLIP.call`.

    Args:
        chunk_size: `None` for the dense loss, or the tile size of the chunked
            loss (see `sigmoid_loss`). A `SigLIP` model compiled with an integer
            `chunk_size` trains through the chunked loss at every batch size; with
            `None` it switches to it by itself at large batches (see
            `SigLIP.loss_chunk_size`).
        ring: `None`, `True` or `False`: whether to use the multi-device ring
            loss (see `sigmoid_loss`); by default it does under a distribution
            on JAX. A `SigLIP` trained under such a distribution passes the
            embeddings, not the logits, to it.
        bidirectional: pass texts both ways round the ring.

    Example:

    >>> import numpy as np
    >>> loss = SigmoidLoss()
    >>> x = np.eye(2, 4, dtype="float32")
    >>> float(loss(x, x, 0.0, 0.0)) > 0
    True
    >>> SigmoidLoss(chunk_size=1024).get_config()
    {'chunk_size': 1024, 'ring': None, 'bidirectional': False}
    """

    name = "sigmoid"

    def __init__(self, chunk_size=None, ring=None, bidirectional=False):
        self.chunk_size = check_chunk_size(chunk_size)
        if ring is not None and not isinstance(ring, bool):
            raise ValueError(f"`ring` must be None (automatic), True or False; got {ring!r}.")
        self.ring = ring
        self.bidirectional = bool(bidirectional)

    def uses_ring(self):
        """Whether this loss computes the ring loss under the current distribution."""
        return ring_mesh(self.ring) is not None

    def __call__(self, image_embeddings, text_embeddings, log_temperature, bias):
        return sigmoid_loss(
            image_embeddings,
            text_embeddings,
            log_temperature,
            bias,
            chunk_size=self.chunk_size,
            ring=self.ring,
            bidirectional=self.bidirectional,
        )

    def from_logits(self, logits):
        return sigmoid_loss_from_logits(logits)

    def get_config(self):
        return {
            "chunk_size": self.chunk_size,
            "ring": self.ring,
            "bidirectional": self.bidirectional,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        defaults = {"chunk_size": None, "ring": None, "bidirectional": False}
        arguments = ", ".join(
            f"{key}={value}" for key, value in self.get_config().items() if value != defaults[key]
        )
        return f"SigmoidLoss({arguments})"
