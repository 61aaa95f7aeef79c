"""Logits shared by every contrastive loss and by `SigLIP.call`."""

from keras import ops


def pairwise_logits(image_embeddings, text_embeddings, log_temperature, bias=0.0):
    """`exp(log_temperature) * image_embeddings @ text_embeddings.T + bias`.

    Computed in float32 whatever the inputs' dtype, so that mixed-precision models
    do not overflow at large temperatures.

    Args:
        image_embeddings: `(num_images, dim)` float tensor.
        text_embeddings: `(num_texts, dim)` float tensor.
        log_temperature: scalar.
        bias: scalar.

    Returns:
        `(num_images, num_texts)` float32 logits.
    """
    image_embeddings = ops.cast(image_embeddings, "float32")
    text_embeddings = ops.cast(text_embeddings, "float32")
    temperature = ops.exp(ops.cast(log_temperature, "float32"))
    similarity = ops.matmul(image_embeddings, ops.transpose(text_embeddings))
    return similarity * temperature + ops.cast(bias, "float32")


def l2_normalize(embeddings, epsilon=1e-12):
    """Scale each row to unit L2 norm, in float32."""
    embeddings = ops.cast(embeddings, "float32")
    squared_norm = ops.sum(ops.square(embeddings), axis=-1, keepdims=True)
    return embeddings * ops.rsqrt(ops.maximum(squared_norm, epsilon))


def check_batches(num_images, num_texts, paired=True, loss="The sigmoid loss"):
    """Refuse empty batches and, where images and texts pair up, unequal ones.

    Only sizes known statically (ints) are checked; `None` (unknown while tracing)
    passes.

    Args:
        num_images: number of images (rows), an int or `None`.
        num_texts: number of texts (columns), an int or `None`.
        paired: text `i` is the positive of image `i`, so the counts must match.
        loss: the loss's name, for the message.
    """
    for name, count in (("images", num_images), ("texts", num_texts)):
        if count == 0:
            raise ValueError(
                f"{loss} needs at least one image and one text; got an empty batch of {name} "
                f"({num_images} images, {num_texts} texts)."
            )
    if paired and num_images is not None and num_texts is not None and num_images != num_texts:
        raise ValueError(
            f"{loss} needs matching image and text batches (text i is the positive of "
            f"image i); got {num_images} images and {num_texts} texts."
        )


def static_batch_size(tensor):
    """The first dimension of `tensor` as an int, or `None` where unknown."""
    size = tensor.shape[0] if len(tensor.shape) else None
    return size if isinstance(size, int) else None
