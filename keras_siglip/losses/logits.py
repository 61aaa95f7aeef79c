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
