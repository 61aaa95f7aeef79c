"""The chunked sigmoid loss against the dense one and NumPy: values, all four
gradients, padding, half precision, errors, training a model, and (on JAX) the
compiled program's buffers."""

import math

import keras
import numpy as np
import pytest
from backend_gradients import value_and_gradients
from helpers import pico, random_batch
from test_losses import numpy_sigmoid_gradients, numpy_sigmoid_loss, unit_rows

from keras_siglip import losses


def chunked(chunk_size, positives=True):
    def loss(x, y, log_temperature, bias):
        return losses.sigmoid_loss(
            x, y, log_temperature, bias, positives=positives, chunk_size=chunk_size
        )

    return loss


def assert_gradients_close(got, expected, rtol):
    # Round-off of a sum scales with its largest terms: compare each gradient
    # relative to its own largest entry.
    for got_one, expected_one in zip(got, expected):
        scale = float(np.max(np.abs(expected_one)))
        np.testing.assert_allclose(got_one, expected_one, rtol=rtol, atol=rtol * scale)


def float32_arguments(rng, num_images, num_texts, dim, log_temperature, bias):
    return [
        unit_rows(rng, num_images, dim).astype("float32"),
        unit_rows(rng, num_texts, dim).astype("float32"),
        np.float32(log_temperature),
        np.float32(bias),
    ]


@pytest.mark.parametrize(
    "batch,chunk_size",
    [(1, 1), (1, 4), (7, 3), (7, 7), (7, 10), (64, 16), (64, 24), (1000, 256), (1000, 300)],
)
def test_chunked_matches_numpy_and_dense(rng, batch, chunk_size):
    args = float32_arguments(rng, batch, batch, 16, math.log(10.0), -10.0)
    value, gradients = value_and_gradients(chunked(chunk_size), *args)
    dense_value, dense_gradients = value_and_gradients(losses.sigmoid_loss, *args)
    reference = [np.float64(a) for a in args]
    np.testing.assert_allclose(value, numpy_sigmoid_loss(*reference), rtol=1e-5)
    assert_gradients_close(gradients, numpy_sigmoid_gradients(*reference), rtol=1e-5)
    np.testing.assert_allclose(value, dense_value, rtol=1e-5)
    assert_gradients_close(gradients, dense_gradients, rtol=1e-5)


def test_chunked_matches_dense_at_batch_8192(rng):
    # Small embeddings keep this fast: the tiles are what is tested. 1000 does not
    # divide 8192 (gradients and value); 1024 does (value only).
    args = float32_arguments(rng, 8192, 8192, 4, math.log(10.0), -10.0)
    value, gradients = value_and_gradients(chunked(1000), *args)
    dense_value, dense_gradients = value_and_gradients(losses.sigmoid_loss, *args)
    np.testing.assert_allclose(value, dense_value, rtol=1e-5)
    assert_gradients_close(gradients, dense_gradients, rtol=1e-5)
    np.testing.assert_allclose(float(chunked(1024)(*args)), dense_value, rtol=1e-5)


@pytest.mark.parametrize(
    "num_images,num_texts,chunk_size,positives",
    [(7, 3, 2, False), (3, 7, 2, False), (10, 25, 4, False), (7, 7, 2, True), (5, 5, 4, True)],
)
def test_negatives_only_blocks_and_square_batches(
    rng, num_images, num_texts, chunk_size, positives
):
    # Only a block of negatives may be rectangular: with positives, text i pairs with
    # image i, and unequal batches are refused (tests/test_losses.py).
    args = float32_arguments(rng, num_images, num_texts, 5, 0.3, 1.5)
    value, gradients = value_and_gradients(chunked(chunk_size, positives), *args)
    dense_value, dense_gradients = value_and_gradients(
        lambda *a: losses.sigmoid_loss(*a, positives=positives), *args
    )
    np.testing.assert_allclose(value, dense_value, rtol=1e-5)
    assert_gradients_close(gradients, dense_gradients, rtol=1e-5)
    if positives:
        reference = [np.float64(a) for a in args]
        np.testing.assert_allclose(value, numpy_sigmoid_loss(*reference), rtol=1e-5)


def test_value_without_gradient_matches_dense(rng):
    # Outside differentiation the chunked loss sweeps the tiles for the value only.
    x, y, log_temperature, bias = float32_arguments(rng, 50, 50, 8, math.log(10.0), -5.0)
    value = losses.sigmoid_loss(x, y, log_temperature, bias, chunk_size=16)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(
        float(value), float(losses.sigmoid_loss(x, y, log_temperature, bias)), rtol=1e-5
    )


# backend_gradients copies the bfloat16 tensors, which PyTorch warns about.
@pytest.mark.filterwarnings("ignore:To copy construct from a tensor")
@pytest.mark.parametrize(
    "log_temperature,bias", [(math.log(1e4), 1e4), (math.log(1e4), -1e4), (math.log(10.0), -10.0)]
)
def test_bfloat16_embeddings_at_extreme_logits(rng, log_temperature, bias):
    x = unit_rows(rng, 40, 16)
    y = np.concatenate([x[:20], -x[20:]])
    half = [keras.ops.cast(a, "bfloat16") for a in (x, y)]
    args = half + [np.float32(log_temperature), np.float32(bias)]
    value, gradients = value_and_gradients(chunked(16), *args)
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(gradient)) for gradient in gradients)
    rounded = [
        keras.ops.convert_to_numpy(keras.ops.cast(a, "float32")).astype("float64") for a in half
    ]
    reference = rounded + [np.float64(log_temperature), np.float64(bias)]
    np.testing.assert_allclose(value, numpy_sigmoid_loss(*reference), rtol=1e-4)
    expected = numpy_sigmoid_gradients(*reference)
    # The embedding gradients come back in bfloat16 (8 bits of mantissa).
    assert_gradients_close(gradients[:2], expected[:2], rtol=1e-2)
    # float32 logits near 1e4 carry an absolute error of about 1e-3.
    np.testing.assert_allclose(gradients[2:], expected[2:], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("bad", [0, -3, 2.5, 8.0, True, "8", [8]])
def test_bad_chunk_size_is_a_clear_error(bad):
    x = np.eye(4, 8, dtype="float32")
    message = (
        rf"`chunk_size` must be None \(the dense loss\) or a positive integer.*got {re_escape(bad)}"
    )
    with pytest.raises(ValueError, match=message):
        losses.sigmoid_loss(x, x, 0.0, 0.0, chunk_size=bad)
    with pytest.raises(ValueError, match=message):
        losses.SigmoidLoss(chunk_size=bad)
    with pytest.raises(ValueError, match=r"`chunk_size` must be a positive integer.*got None"):
        losses.chunked_sigmoid_loss(x, x, 0.0, 0.0, chunk_size=None)


def re_escape(value):
    import re

    return re.escape(repr(value))


def test_numpy_integer_chunk_size_and_loss_object_round_trip(rng):
    x, y, log_temperature, bias = float32_arguments(rng, 9, 9, 4, 0.5, -1.0)
    loss = losses.SigmoidLoss(chunk_size=np.int64(4))
    assert loss.chunk_size == 4 and type(loss.chunk_size) is int
    np.testing.assert_allclose(
        float(loss(x, y, log_temperature, bias)),
        float(losses.sigmoid_loss(x, y, log_temperature, bias)),
        rtol=1e-5,
    )
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, losses.SigmoidLoss) and restored.chunk_size == 4
    assert repr(restored) == "SigmoidLoss(chunk_size=4)"
    assert losses.SigmoidLoss().get_config() == {
        "chunk_size": None,
        "ring": None,
        "bidirectional": False,
    }


# --- Training a model ----------------------------------------------------------------


def loss_curve(model, data, steps=4):
    return [float(model.train_on_batch(data)) for _ in range(steps)]


def test_training_with_the_chunked_loss_follows_the_dense_curve(rng):
    data = random_batch(rng, 10)
    dense, chunked_model = pico(), pico()
    chunked_model.set_weights(dense.get_weights())
    dense.compile(learning_rate=1e-2)
    chunked_model.compile(loss=losses.SigmoidLoss(chunk_size=4), learning_rate=1e-2)
    dense_curve = loss_curve(dense, data)
    chunked_curve = loss_curve(chunked_model, data)
    assert dense_curve[-1] < dense_curve[0]
    np.testing.assert_allclose(chunked_curve, dense_curve, rtol=1e-5)
    for name in ("log_temperature", "bias"):
        np.testing.assert_allclose(
            float(getattr(chunked_model, name).numpy()),
            float(getattr(dense, name).numpy()),
            rtol=1e-5,
        )


@pytest.mark.parametrize("automatic", [False, True])
def test_training_call_returns_embeddings_only_for_the_chunked_loss(rng, monkeypatch, automatic):
    from keras_siglip import model as model_module

    model = pico()
    if automatic:
        # The automatic switch, with its threshold lowered to this batch size.
        monkeypatch.setattr(model_module, "CHUNKED_LOSS_BATCH_SIZE", 6)
        model.compile()
    else:
        model.compile(loss=losses.SigmoidLoss(chunk_size=4))
    inputs = random_batch(rng, 6)
    outputs = model(inputs, training=True)
    assert set(outputs) == {"image_embeddings", "text_embeddings"}
    assert tuple(model(inputs).shape) == (6, 6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.compute_loss(y_pred=outputs)),
        keras.ops.convert_to_numpy(model.compute_loss(y_pred=model(inputs))),
        rtol=1e-5,
    )
    smaller_outputs = model(random_batch(rng, 5), training=True)
    if automatic:  # below the threshold: logits and the dense loss
        assert tuple(smaller_outputs.shape) == (5, 5)
    else:
        assert set(smaller_outputs) == {"image_embeddings", "text_embeddings"}
    model.compile(loss="softmax")
    assert tuple(model(inputs, training=True).shape) == (6, 6)


def test_chunked_loss_threshold():
    from keras_siglip import model as model_module

    model = pico()
    model.compile()
    threshold = model_module.CHUNKED_LOSS_BATCH_SIZE
    assert model.loss_chunk_size(threshold - 1) is None
    assert model.loss_chunk_size(threshold) == losses.DEFAULT_CHUNK_SIZE
    assert model.loss_chunk_size(None) == losses.DEFAULT_CHUNK_SIZE
    model.compile(loss="softmax")
    assert model.loss_chunk_size(None) is None


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_compiled_chunk_size_survives_saving(tmp_path):
    model = pico()
    model.compile(loss=losses.SigmoidLoss(chunk_size=3))
    path = str(tmp_path / "chunked.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.contrastive_loss, losses.SigmoidLoss)
    assert restored.contrastive_loss.chunk_size == 3


# --- Backend-specific checks -------------------------------------------------------


def test_jax_program_never_holds_the_batch_by_batch_logits():
    if keras.backend.backend() != "jax":
        pytest.skip("inspects the XLA program JAX compiles")
    import jax

    batch, dim = 4096, 8
    args = (
        jax.ShapeDtypeStruct((batch, dim), "float32"),
        jax.ShapeDtypeStruct((batch, dim), "float32"),
        jax.ShapeDtypeStruct((), "float32"),
        jax.ShapeDtypeStruct((), "float32"),
    )
    square = f"f32[{batch},{batch}]"

    def compiled(function):
        gradient = jax.value_and_grad(function, argnums=(0, 1, 2, 3))
        return jax.jit(gradient).lower(*args).compile()

    dense = compiled(losses.sigmoid_loss)
    assert square in dense.as_text()  # the check can see a B x B buffer
    tiled = compiled(chunked(256))
    assert square not in tiled.as_text()
    assert tiled.memory_analysis().temp_size_in_bytes < batch * batch * 4 / 8


def test_tensorflow_unknown_batch_size(rng):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("only TensorFlow traces with an unknown batch size")
    import tensorflow as tf

    spec = tf.TensorSpec((None, 6), tf.float32)
    scalar = tf.TensorSpec((), tf.float32)

    @tf.function(input_signature=[spec, spec, scalar, scalar])
    def value_and_gradients_of_chunked(x, y, log_temperature, bias):
        with tf.GradientTape() as tape:
            tape.watch([x, y, log_temperature, bias])
            value = losses.sigmoid_loss(x, y, log_temperature, bias, chunk_size=4)
        return value, tape.gradient(value, [x, y, log_temperature, bias])

    for batch in (3, 10):
        args = float32_arguments(rng, batch, batch, 6, 1.0, -2.0)
        value, gradients = value_and_gradients_of_chunked(*args)
        reference = [np.float64(a) for a in args]
        np.testing.assert_allclose(float(value), numpy_sigmoid_loss(*reference), rtol=1e-5)
        assert_gradients_close(
            [np.asarray(g, "float64") for g in gradients],
            numpy_sigmoid_gradients(*reference),
            rtol=1e-5,
        )


def test_tensorflow_gradient_requested_without_a_tape(rng):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.gradients is TensorFlow's graph-mode autodiff")
    import tensorflow as tf

    args = float32_arguments(rng, 9, 9, 5, 0.5, -2.0)

    @tf.function
    def gradients_in_graph(x, y, log_temperature, bias):
        value = losses.sigmoid_loss(x, y, log_temperature, bias, chunk_size=4)
        return tf.gradients(value, [x, y, log_temperature, bias])

    gradients = [np.asarray(g, "float64") for g in gradients_in_graph(*args)]
    reference = [np.float64(a) for a in args]
    assert_gradients_close(gradients, numpy_sigmoid_gradients(*reference), rtol=1e-5)
