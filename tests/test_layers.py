"""Each layer: output against the NumPy reference, shapes, config and `.keras` round trips."""

import os

import backend_gradients
import keras
import numpy as np
import numpy_reference as reference
import pytest

from keras_siglip import layers


def randomize(layer, rng, scale=0.3):
    """Random weights everywhere (LayerNorm gammas and biases included)."""
    for variable in layer.weights:
        variable.assign(rng.normal(scale=scale, size=variable.shape).astype("float32"))


def as_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), np.float64)


def check_config_round_trip(layer):
    restored = layer.__class__.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    return restored


def check_keras_file_round_trip(layer, inputs, tmp_path):
    model = keras.Sequential([keras.Input(inputs.shape[1:]), layer])
    path = os.path.join(tmp_path, "layer.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(as_numpy(restored(inputs)), as_numpy(model(inputs)))


def test_patch_embedding_is_a_valid_convolution(rng, tmp_path):
    layer = layers.PatchEmbedding(patch_size=4, hidden_dim=6)
    # 18 px at patch 4: VALID padding drops the last 2 rows and columns.
    images = rng.normal(size=(2, 18, 14, 3)).astype("float32")
    output = as_numpy(layer(images))
    assert output.shape == (2, 4 * 3, 6)
    kernel, bias = (as_numpy(v) for v in layer.weights)
    patches = images[:, :16, :12].reshape(2, 4, 4, 3, 4, 3).transpose(0, 1, 3, 2, 4, 5)
    expected = patches.reshape(2, 12, 48) @ kernel.reshape(48, 6) + bias
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)
    assert layer.compute_output_shape((None, 18, 14, 3)) == (None, 12, 6)
    check_config_round_trip(layer)
    check_keras_file_round_trip(layer, images, tmp_path)


def test_patch_embedding_gradient_matches_the_convolution(rng):
    # The layer computes the convolution as a matmul of flattened patches; its
    # gradients must be those of Keras' own strided Conv2D on the same weights.
    layer = layers.PatchEmbedding(patch_size=4, hidden_dim=6)
    images = rng.normal(size=(2, 18, 14, 3)).astype("float32")
    layer(images)
    randomize(layer, rng)
    convolution = keras.layers.Conv2D(6, 4, strides=4, padding="valid")
    convolution.build(images.shape)
    convolution.set_weights(layer.projection.get_weights())
    target = keras.ops.convert_to_tensor(rng.normal(size=(2, 12, 6)).astype("float32"))

    def loss(model_output):
        return keras.ops.sum(keras.ops.reshape(model_output, (2, 12, 6)) * target)

    value, ours = backend_gradients.variable_gradients(
        lambda: loss(layer(images)), layer.trainable_weights
    )
    expected, theirs = backend_gradients.variable_gradients(
        lambda: loss(convolution(images)), convolution.trainable_weights
    )
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    for mine, reference_gradient in zip(ours, theirs):
        np.testing.assert_allclose(mine, reference_gradient, rtol=1e-5, atol=1e-5)


def test_token_dense_is_dense_on_flattened_tokens(rng, tmp_path):
    layer = layers.TokenDense(5)
    dense = keras.layers.Dense(5)
    inputs = rng.normal(size=(2, 3, 4, 6)).astype("float32")
    layer(inputs)
    dense(inputs)
    randomize(layer, rng)
    dense.set_weights(layer.get_weights())
    assert [v.path.split("/")[-1] for v in layer.weights] == ["kernel", "bias"]
    kernel, bias = (as_numpy(v) for v in layer.weights)
    np.testing.assert_allclose(
        as_numpy(layer(inputs)), inputs @ kernel + bias, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        as_numpy(layer(inputs)), as_numpy(dense(inputs)), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        as_numpy(layer(inputs[0, 0])), inputs[0, 0] @ kernel + bias, rtol=1e-5, atol=1e-5
    )
    symbolic = keras.Input((None, 6))
    assert tuple(layer(symbolic).shape) == (None, None, 5)
    check_config_round_trip(layer)
    check_keras_file_round_trip(layer, inputs, tmp_path)


def test_position_embedding_adds_a_learned_table(rng, tmp_path):
    layer = layers.PositionEmbedding(sequence_length=5)
    inputs = rng.normal(size=(3, 5, 4)).astype("float32")
    output = as_numpy(layer(inputs))
    np.testing.assert_allclose(output, inputs + as_numpy(layer.embeddings), rtol=1e-6)
    check_config_round_trip(layer)
    check_keras_file_round_trip(layer, inputs, tmp_path)


def numpy_bilinear(grid, new_side):
    """Half-pixel-centre bilinear resize of a (side, side, dim) grid, edges clamped."""
    side = grid.shape[0]
    coordinates = (np.arange(new_side) + 0.5) * side / new_side - 0.5
    coordinates = np.clip(coordinates, 0, side - 1)
    low = np.floor(coordinates).astype(int)
    high = np.minimum(low + 1, side - 1)
    frac = coordinates - low
    rows = grid[low] * (1 - frac)[:, None, None] + grid[high] * frac[:, None, None]
    return rows[:, low] * (1 - frac)[None, :, None] + rows[:, high] * frac[None, :, None]


def test_patch_position_embedding_interpolates_for_another_grid(rng, tmp_path):
    layer = layers.PatchPositionEmbedding(grid_size=3)
    inputs = rng.normal(size=(2, 9, 4)).astype("float32")
    np.testing.assert_allclose(
        as_numpy(layer(inputs)), inputs + as_numpy(layer.embeddings), rtol=1e-6
    )
    table = as_numpy(layer.embeddings).reshape(3, 3, 4)
    larger = np.zeros((2, 36, 4), "float32")
    expected = numpy_bilinear(table, 6).reshape(36, 4)
    np.testing.assert_allclose(as_numpy(layer(larger))[0], expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not a square"):
        layer(np.zeros((1, 10, 4), "float32"))
    check_config_round_trip(layer)
    check_keras_file_round_trip(layer, inputs, tmp_path)


def test_patch_position_embedding_resizes_weights_saved_for_another_grid(rng, tmp_path):
    small = keras.Sequential([keras.Input((9, 4)), layers.PatchPositionEmbedding(3)])
    path = os.path.join(tmp_path, "small.weights.h5")
    small.save_weights(path)
    large = keras.Sequential([keras.Input((36, 4)), layers.PatchPositionEmbedding(6)])
    large.load_weights(path)
    table = as_numpy(small.layers[0].embeddings).reshape(3, 3, 4)
    np.testing.assert_allclose(
        as_numpy(large.layers[0].embeddings),
        numpy_bilinear(table, 6).reshape(36, 4),
        rtol=1e-5,
        atol=1e-6,
    )
    wrong_width = keras.Sequential([keras.Input((36, 5)), layers.PatchPositionEmbedding(6)])
    with pytest.raises(ValueError, match=r"shape \(9, 4\).*\(36, 5\)"):
        wrong_width.load_weights(path)


def test_multi_head_attention_matches_numpy(rng, tmp_path):
    layer = layers.MultiHeadAttention(hidden_dim=8, num_heads=2)
    query = rng.normal(size=(2, 3, 8)).astype("float32")
    value = rng.normal(size=(2, 5, 8)).astype("float32")
    output = layer(query, value)
    randomize(layer, rng)
    np.testing.assert_allclose(
        as_numpy(layer(query, value)),
        reference.attention(query.astype(np.float64), value, layer),
        rtol=1e-4,
        atol=1e-5,
    )
    assert tuple(output.shape) == (2, 3, 8)
    np.testing.assert_allclose(
        as_numpy(layer(query)), reference.attention(query, query, layer), rtol=1e-4, atol=1e-5
    )
    check_config_round_trip(layer)
    check_keras_file_round_trip(layer, query, tmp_path)
    with pytest.raises(
        ValueError, match=r"`hidden_dim` \(10\) must be divisible by `num_heads` \(3\)"
    ):
        layers.MultiHeadAttention(hidden_dim=10, num_heads=3)


def test_mlp_uses_tanh_approximate_gelu(rng, tmp_path):
    layer = layers.MLP(hidden_dim=4, intermediate_dim=16)
    inputs = rng.normal(size=(2, 3, 4)).astype("float32")
    layer(inputs)
    randomize(layer, rng, scale=1.0)
    np.testing.assert_allclose(
        as_numpy(layer(inputs)), reference.mlp(inputs, layer), rtol=1e-5, atol=1e-5
    )
    check_config_round_trip(layer)
    check_keras_file_round_trip(layer, inputs, tmp_path)


def test_transformer_block_is_pre_norm_and_unmasked(rng, tmp_path):
    block = layers.TransformerEncoderBlock(hidden_dim=8, num_heads=2, intermediate_dim=16)
    inputs = rng.normal(size=(2, 5, 8)).astype("float32")
    block(inputs)
    randomize(block, rng)
    np.testing.assert_allclose(
        as_numpy(block(inputs)), reference.encoder_block(inputs, block), rtol=1e-4, atol=1e-5
    )
    assert block.layer_norm_epsilon == 1e-6
    check_config_round_trip(block)
    check_keras_file_round_trip(block, inputs, tmp_path)


def test_attention_pooling_matches_numpy(rng, tmp_path):
    pool = layers.AttentionPooling(hidden_dim=8, num_heads=2, intermediate_dim=16)
    inputs = rng.normal(size=(3, 5, 8)).astype("float32")
    assert tuple(pool(inputs).shape) == (3, 8)
    randomize(pool, rng)
    np.testing.assert_allclose(
        as_numpy(pool(inputs)), reference.attention_pooling(inputs, pool), rtol=1e-4, atol=1e-5
    )
    check_config_round_trip(pool)
    check_keras_file_round_trip(pool, inputs, tmp_path)


@pytest.mark.parametrize(
    "factory,argument",
    [
        (lambda v: layers.PatchEmbedding(patch_size=v, hidden_dim=4), "patch_size"),
        (lambda v: layers.PatchEmbedding(patch_size=4, hidden_dim=v), "hidden_dim"),
        (lambda v: layers.PositionEmbedding(sequence_length=v), "sequence_length"),
        (lambda v: layers.PatchPositionEmbedding(grid_size=v), "grid_size"),
        (lambda v: layers.MLP(hidden_dim=4, intermediate_dim=v), "intermediate_dim"),
    ],
)
@pytest.mark.parametrize("bad", [0, -3, 2.5, "8"])
def test_bad_sizes_name_the_argument(factory, argument, bad):
    with pytest.raises(ValueError, match=f"`{argument}` must be a positive integer, got {bad!r}"):
        factory(bad)
