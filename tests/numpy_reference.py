"""An independent NumPy forward pass of SigLIP's layers and towers.

Written from the architecture description (REFERENCE.md), not from the package's
code; it reads only the weights from the Keras layers.
"""

import numpy as np


def weights(layer):
    return {v.path.split("/")[-1]: np.asarray(v.numpy(), np.float64) for v in layer.weights}


def dense(x, layer):
    w = weights(layer)
    return x @ w["kernel"] + w["bias"]


def layer_norm(x, layer, epsilon=1e-6):
    w = weights(layer)
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * w["gamma"] + w["beta"]


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def attention(query, value, layer):
    heads = layer.num_heads
    batch, query_length, width = query.shape
    head_dim = width // heads

    def split(x):
        return x.reshape(batch, -1, heads, head_dim).transpose(0, 2, 1, 3)

    q = split(dense(query, layer.query_projection))
    k = split(dense(value, layer.key_projection))
    v = split(dense(value, layer.value_projection))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    scores /= scores.sum(-1, keepdims=True)
    out = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, query_length, width)
    return dense(out, layer.output_projection)


def mlp(x, layer):
    return dense(gelu_tanh(dense(x, layer.expand)), layer.contract)


def encoder_block(x, block):
    eps = block.layer_norm_epsilon
    normed = layer_norm(x, block.attention_norm, eps)
    x = x + attention(normed, normed, block.attention)
    return x + mlp(layer_norm(x, block.mlp_norm, eps), block.mlp)


def attention_pooling(x, pool):
    probe = np.broadcast_to(weights(pool)["probe"], (x.shape[0], 1, x.shape[2]))
    pooled = attention(probe, x, pool.attention)
    pooled = pooled + mlp(layer_norm(pooled, pool.mlp_norm, pool.layer_norm_epsilon), pool.mlp)
    return pooled[:, 0]


def image_encoder(images, encoder):
    patch = encoder.patch_size
    w = weights(encoder.patch_embedding.projection)
    batch, height, width, channels = images.shape
    rows, columns = height // patch, width // patch
    patches = images[:, : rows * patch, : columns * patch]
    patches = patches.reshape(batch, rows, patch, columns, patch, channels)
    patches = patches.transpose(0, 1, 3, 2, 4, 5).reshape(batch, rows * columns, -1)
    kernel = w["kernel"].reshape(-1, w["kernel"].shape[-1])
    x = patches @ kernel + w["bias"]
    x = x + weights(encoder.position_embedding)["embeddings"]
    for block in encoder.encoder_blocks:
        x = encoder_block(x, block)
    x = layer_norm(x, encoder.final_norm, encoder.layer_norm_epsilon)
    return attention_pooling(x, encoder.pooling)


def text_encoder(token_ids, encoder):
    table = weights(encoder.token_embedding)["embeddings"]
    x = table[token_ids] + weights(encoder.position_embedding)["embeddings"]
    for block in encoder.encoder_blocks:
        x = encoder_block(x, block)
    x = layer_norm(x, encoder.final_norm, encoder.layer_norm_epsilon)
    return dense(x[:, -1], encoder.head)
