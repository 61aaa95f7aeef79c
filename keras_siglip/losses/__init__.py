"""Contrastive losses for image-text pairs."""

from keras_siglip.losses.chunked import DEFAULT_CHUNK_SIZE, chunked_sigmoid_loss
from keras_siglip.losses.logits import l2_normalize, pairwise_logits
from keras_siglip.losses.sigmoid import (
    SigmoidLoss,
    sigmoid_loss,
    sigmoid_loss_from_logits,
)
from keras_siglip.losses.softmax import SoftmaxLoss, softmax_loss, softmax_loss_from_logits

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "SigmoidLoss",
    "SoftmaxLoss",
    "chunked_sigmoid_loss",
    "get",
    "l2_normalize",
    "pairwise_logits",
    "sigmoid_loss",
    "sigmoid_loss_from_logits",
    "softmax_loss",
    "softmax_loss_from_logits",
]

_BY_NAME = {"sigmoid": SigmoidLoss, "softmax": SoftmaxLoss}


def get(identifier):
    """A loss object from `"sigmoid"`, `"softmax"` or an object with `from_logits`."""
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(
                f"Unknown loss {identifier!r}; expected one of {sorted(_BY_NAME)} "
                "or an object with a `from_logits(logits)` method."
            )
        return _BY_NAME[identifier]()
    if hasattr(identifier, "from_logits"):
        return identifier
    raise ValueError(
        "`loss` must be 'sigmoid', 'softmax' or an object with a "
        f"`from_logits(logits)` method; got {identifier!r}."
    )
