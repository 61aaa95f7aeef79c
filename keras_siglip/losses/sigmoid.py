"""The paper's pairwise sigmoid loss.

For `B` image embeddings `x_i` and text embeddings `y_j` (already L2-normalised):

    logit_ij = exp(log_temperature) * <x_i, y_j> + bias
    z_ij     = +1 if i == j else -1
    loss     = -(1 / B) * sum_ij log_sigmoid(z_ij * logit_ij)

The sum runs over all pairs and is divided by `B` (the number of images), not by
`B * B`. `-log_sigmoid(u)` is evaluated as `softplus(-u)` in float32, which is finite
and has a finite gradient for any finite logit, also when the embeddings come from a
bfloat16 or float16 model.
"""

import keras
from keras import ops

from keras_siglip.losses.logits import pairwise_logits


def sigmoid_loss_from_logits(logits):
    """Sigmoid loss of a `(num_images, num_texts)` logits matrix.

    Pair `(i, i)` is the positive of row `i`; every other pair is a negative, so a
    rectangular block with `num_images != num_texts` (or a block of negatives only,
    when it is passed with `positives=False` through `sigmoid_loss`) is allowed.

    Args:
        logits: float tensor of shape `(num_images, num_texts)`.

    Returns:
        Scalar float32 loss: the sum over all pairs divided by `num_images`.
    """
    return _sigmoid_loss_sum(logits, positives=True) / _num_rows(logits)


def sigmoid_loss(
    image_embeddings, text_embeddings, log_temperature, bias, positives=True
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
            of a chunked or multi-device loss).

    Returns:
        Scalar float32 loss, differentiable in all four arguments.

    Example:

    >>> import numpy as np
    >>> x = np.eye(4, 8, dtype="float32")
    >>> loss = sigmoid_loss(x, x, np.log(10.0), -10.0)
    >>> round(float(loss), 4)
    0.6933
    """
    logits = pairwise_logits(image_embeddings, text_embeddings, log_temperature, bias)
    return _sigmoid_loss_sum(logits, positives=positives) / _num_rows(logits)


def _sigmoid_loss_sum(logits, positives):
    logits = ops.cast(logits, "float32")
    if positives:
        num_images, num_texts = ops.shape(logits)
        labels = 2.0 * ops.eye(num_images, num_texts, dtype="float32") - 1.0
    else:
        labels = -1.0
    return ops.sum(ops.softplus(-labels * logits))


def _num_rows(logits):
    return ops.cast(ops.shape(logits)[0], "float32")


@keras.saving.register_keras_serializable(package="keras_siglip")
class SigmoidLoss:
    """The paper's sigmoid loss as an object the model can be compiled with.

    `SigmoidLoss()(image_embeddings, text_embeddings, log_temperature, bias)` is
    `sigmoid_loss(...)`; `SigmoidLoss().from_logits(logits)` takes logits already
    computed by `SigLIP.call`, which is how `SigLIP.compute_loss` uses it.

    Example:

    >>> import numpy as np
    >>> loss = SigmoidLoss()
    >>> x = np.eye(2, 4, dtype="float32")
    >>> float(loss(x, x, 0.0, 0.0)) > 0
    True
    """

    name = "sigmoid"

    def __call__(self, image_embeddings, text_embeddings, log_temperature, bias):
        return sigmoid_loss(image_embeddings, text_embeddings, log_temperature, bias)

    def from_logits(self, logits):
        return sigmoid_loss_from_logits(logits)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return "SigmoidLoss()"

