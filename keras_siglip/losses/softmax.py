"""CLIP's symmetric softmax (InfoNCE) loss: the baseline the paper compares with."""

import keras
from keras import ops

from keras_siglip.losses.logits import check_batches, pairwise_logits


def softmax_loss_from_logits(logits):
    """Mean of the image->text and text->image cross-entropies of square logits.

    A constant bias added to every logit does not change this loss, so the logits
    from `SigLIP.call` can be passed as they are.

    Args:
        logits: float tensor of shape `(batch_size, batch_size)`; pair `(i, i)` is
            the positive of row `i` and of column `i`.

    Returns:
        Scalar float32 loss.
    """
    logits = ops.cast(logits, "float32")
    num_images, num_texts = ops.shape(logits)
    check_batches(
        num_images if isinstance(num_images, int) else None,
        num_texts if isinstance(num_texts, int) else None,
        loss=f"The softmax loss (logits of shape ({num_images}, {num_texts}))",
    )
    positive_logits = ops.diagonal(logits)
    image_to_text = ops.logsumexp(logits, axis=1) - positive_logits
    text_to_image = ops.logsumexp(logits, axis=0) - positive_logits
    return 0.5 * (ops.mean(image_to_text) + ops.mean(text_to_image))


def softmax_loss(image_embeddings, text_embeddings, log_temperature, bias=0.0):
    """CLIP's loss with the same arguments as `sigmoid_loss` (`bias` has no effect).

    Example:

    >>> import numpy as np
    >>> x = np.eye(3, 8, dtype="float32")
    >>> float(softmax_loss(x, x, np.log(100.0))) < 1e-6
    True
    """
    logits = pairwise_logits(image_embeddings, text_embeddings, log_temperature, bias)
    return softmax_loss_from_logits(logits)


@keras.saving.register_keras_serializable(package="keras_siglip")
class SoftmaxLoss:
    """CLIP's softmax loss as an object, with `SigmoidLoss`'s interface."""

    name = "softmax"

    def __call__(self, image_embeddings, text_embeddings, log_temperature, bias=0.0):
        return softmax_loss(image_embeddings, text_embeddings, log_temperature, bias)

    def from_logits(self, logits):
        return softmax_loss_from_logits(logits)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return "SoftmaxLoss()"
