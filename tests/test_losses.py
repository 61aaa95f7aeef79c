"""The sigmoid and softmax losses against NumPy maths, closed-form gradients and
finite differences."""

import keras
import numpy as np
import pytest
from backend_gradients import value_and_gradients, variable_gradients
from scipy.special import expit

from keras_siglip import losses


def numpy_sigmoid_loss(x, y, log_temperature, bias):
    logits = np.exp(log_temperature) * x @ y.T + bias
    labels = 2.0 * np.eye(*logits.shape) - 1.0
    return np.logaddexp(0.0, -labels * logits).sum() / logits.shape[0]


def numpy_sigmoid_gradients(x, y, log_temperature, bias):
    """The closed form of REFERENCE.md: dL/dlogit_ij = -(1/B) z_ij sigmoid(-z_ij l_ij)."""
    temperature = np.exp(log_temperature)
    similarity = x @ y.T
    logits = temperature * similarity + bias
    labels = 2.0 * np.eye(*logits.shape) - 1.0
    g = -labels * expit(-labels * logits) / logits.shape[0]
    return [
        temperature * g @ y,
        temperature * g.T @ x,
        temperature * np.sum(g * similarity),
        np.sum(g),
    ]


def numpy_softmax_loss(x, y, log_temperature):
    logits = np.exp(log_temperature) * x @ y.T
    diagonal = np.diag(logits)

    def logsumexp(a, axis):
        peak = a.max(axis=axis, keepdims=True)
        return (peak + np.log(np.exp(a - peak).sum(axis=axis, keepdims=True))).squeeze(axis)

    rows = logsumexp(logits, 1) - diagonal
    columns = logsumexp(logits, 0) - diagonal
    return 0.5 * (rows.mean() + columns.mean())


def unit_rows(rng, n, dim):
    v = rng.normal(size=(n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


SHAPES = [(1, 1, 8), (4, 4, 16), (7, 7, 5), (33, 33, 12)]


@pytest.mark.parametrize("num_images,num_texts,dim", SHAPES)
@pytest.mark.parametrize("log_temperature,bias", [(np.log(10.0), -10.0), (0.3, 1.5)])
def test_sigmoid_loss_value_and_gradients_match_numpy(
    rng, num_images, num_texts, dim, log_temperature, bias
):
    x = unit_rows(rng, num_images, dim)
    y = unit_rows(rng, num_texts, dim)
    args = [x, y, np.float64(log_temperature), np.float64(bias)]
    value, gradients = value_and_gradients(
        losses.sigmoid_loss, *[np.asarray(a, "float32") for a in args]
    )
    np.testing.assert_allclose(value, numpy_sigmoid_loss(*args), rtol=1e-5, atol=1e-6)
    for got, expected in zip(gradients, numpy_sigmoid_gradients(*args)):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_closed_form_gradient_matches_finite_differences(rng):
    x, y = unit_rows(rng, 5, 6), unit_rows(rng, 4, 6)
    args = [x, y, np.float64(0.7), np.float64(-2.0)]
    analytic = numpy_sigmoid_gradients(*args)
    step = 1e-6
    for index, arg in enumerate(args):
        flat = np.atleast_1d(np.array(arg, dtype=np.float64)).ravel()
        numeric = np.empty_like(flat)
        for k in range(flat.size):
            plus, minus = flat.copy(), flat.copy()
            plus[k] += step
            minus[k] -= step
            shape = np.shape(arg)
            shaped = lambda v, shape=shape: v.reshape(shape)  # noqa: E731
            plus_args = args[:index] + [shaped(plus)] + args[index + 1 :]
            minus_args = args[:index] + [shaped(minus)] + args[index + 1 :]
            numeric[k] = (numpy_sigmoid_loss(*plus_args) - numpy_sigmoid_loss(*minus_args)) / (
                2 * step
            )
        np.testing.assert_allclose(
            numeric.reshape(np.shape(arg)), analytic[index], rtol=1e-5, atol=1e-8
        )


def test_normalisation_divides_by_batch_not_batch_squared():
    # Orthonormal embeddings, temperature 1, bias 0: positives have logit 1 and
    # negatives logit 0, so the loss is softplus(-1) + (B - 1) * softplus(0).
    batch = 6
    x = np.eye(batch, 8, dtype="float32")
    value = float(losses.sigmoid_loss(x, x, 0.0, 0.0))
    expected = np.log1p(np.exp(-1.0)) + (batch - 1) * np.log(2.0)
    np.testing.assert_allclose(value, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "log_temperature,bias", [(np.log(1e4), 0.0), (np.log(1e4), -1e4), (0.0, 1e4), (0.0, -1e4)]
)
def test_sigmoid_loss_is_finite_at_extreme_logits(rng, log_temperature, bias):
    x = unit_rows(rng, 8, 4).astype("float32")
    y = np.concatenate([x[:4], -x[4:]]).astype("float32")
    args = [x, y, np.float32(log_temperature), np.float32(bias)]
    value, gradients = value_and_gradients(losses.sigmoid_loss, *args)
    assert np.isfinite(value)
    np.testing.assert_allclose(value, numpy_sigmoid_loss(*[np.float64(a) for a in args]), rtol=1e-5)
    for got, expected in zip(gradients, numpy_sigmoid_gradients(*[np.float64(a) for a in args])):
        assert np.all(np.isfinite(got))
        # float32 logits near 1e4 carry an absolute error of about 1e-3.
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_sigmoid_loss_takes_half_precision_embeddings(rng, dtype):
    x = unit_rows(rng, 16, 32)
    y = unit_rows(rng, 16, 32)
    half_x = keras.ops.cast(x, dtype)
    half_y = keras.ops.cast(y, dtype)
    for log_temperature, bias in [(np.log(10.0), -10.0), (np.log(1e4), -1e4)]:
        value = losses.sigmoid_loss(half_x, half_y, log_temperature, bias)
        assert keras.backend.standardize_dtype(value.dtype) == "float32"
        rounded_x = keras.ops.convert_to_numpy(keras.ops.cast(half_x, "float32"))
        rounded_y = keras.ops.convert_to_numpy(keras.ops.cast(half_y, "float32"))
        expected = numpy_sigmoid_loss(
            rounded_x.astype("float64"), rounded_y.astype("float64"), log_temperature, bias
        )
        assert np.isfinite(float(value))
        np.testing.assert_allclose(float(value), expected, rtol=1e-4)


def test_negatives_only_block(rng):
    x, y = unit_rows(rng, 3, 4), unit_rows(rng, 5, 4)
    logits = 2.0 * x @ y.T - 1.0
    expected = np.logaddexp(0.0, logits).sum() / 3
    value = losses.sigmoid_loss(
        x.astype("float32"), y.astype("float32"), np.log(2.0), -1.0, positives=False
    )
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)


def test_sigmoid_loss_from_logits_matches_embeddings_form(rng):
    x, y = unit_rows(rng, 6, 5), unit_rows(rng, 6, 5)
    logits = losses.pairwise_logits(x.astype("float32"), y.astype("float32"), 1.2, -3.0)
    np.testing.assert_allclose(
        float(losses.sigmoid_loss_from_logits(logits)),
        numpy_sigmoid_loss(x, y, 1.2, -3.0),
        rtol=1e-5,
    )


@pytest.mark.parametrize("batch", [1, 5, 17])
def test_softmax_loss_matches_numpy(rng, batch):
    x, y = unit_rows(rng, batch, 8), unit_rows(rng, batch, 8)
    value = losses.softmax_loss(x.astype("float32"), y.astype("float32"), np.log(20.0), 5.0)
    np.testing.assert_allclose(
        float(value), numpy_softmax_loss(x, y, np.log(20.0)), rtol=1e-5, atol=1e-6
    )


def test_softmax_loss_rejects_rectangular_logits():
    with pytest.raises(
        ValueError, match=r"\(2, 3\).*matching image and text batches.*2 images and 3"
    ):
        losses.softmax_loss_from_logits(np.zeros((2, 3), "float32"))


def test_loss_objects_share_the_functions(rng):
    x, y = unit_rows(rng, 4, 8).astype("float32"), unit_rows(rng, 4, 8).astype("float32")
    sigmoid, softmax = losses.SigmoidLoss(), losses.SoftmaxLoss()
    np.testing.assert_allclose(
        float(sigmoid(x, y, 0.5, -1.0)), float(losses.sigmoid_loss(x, y, 0.5, -1.0))
    )
    np.testing.assert_allclose(
        float(softmax(x, y, 0.5, -1.0)), float(losses.softmax_loss(x, y, 0.5)), rtol=1e-6
    )
    for loss in (sigmoid, softmax):
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert type(restored) is type(loss)


def test_get_resolves_names_and_rejects_unknown():
    assert isinstance(losses.get("sigmoid"), losses.SigmoidLoss)
    assert isinstance(losses.get("softmax"), losses.SoftmaxLoss)
    with pytest.raises(ValueError, match="Unknown loss 'hinge'"):
        losses.get("hinge")
    with pytest.raises(ValueError, match="from_logits"):
        losses.get(3)


UNEQUAL_OR_EMPTY = [
    (10, 7, "matching image and text batches.*10 images and 7 texts"),
    (0, 0, "empty batch"),
]


@pytest.mark.parametrize("num_images,num_texts,message", UNEQUAL_OR_EMPTY)
@pytest.mark.parametrize(
    "loss",
    [
        losses.sigmoid_loss,
        lambda x, y, t, b: losses.sigmoid_loss(x, y, t, b, chunk_size=4),
        lambda x, y, t, b: losses.chunked_sigmoid_loss(x, y, t, b, chunk_size=4),
        losses.softmax_loss,
        lambda x, y, t, b: losses.sigmoid_loss_from_logits(losses.pairwise_logits(x, y, t, b)),
    ],
    ids=["dense", "chunk_size", "chunked", "softmax", "from_logits"],
)
def test_losses_refuse_unequal_and_empty_batches(rng, loss, num_images, num_texts, message):
    x, y = (
        unit_rows(rng, num_images, 8).astype("float32"),
        unit_rows(rng, num_texts, 8).astype("float32"),
    )
    with pytest.raises(ValueError, match=message):
        loss(x, y, np.log(10.0), -10.0)


def test_a_negatives_only_block_may_be_rectangular_but_not_empty(rng):
    x = unit_rows(rng, 3, 8).astype("float32")
    assert np.isfinite(float(losses.sigmoid_loss(x, x[:2], 0.0, 0.0, positives=False)))
    with pytest.raises(ValueError, match="empty batch of texts"):
        losses.sigmoid_loss(x, x[:0], 0.0, 0.0, positives=False)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_logits_and_loss_are_float32_and_finite_at_log_temperature_20(rng, policy):
    from keras_siglip import SigLIP

    model = SigLIP.from_variant(
        "Pico/8", image_size=16, sequence_length=8, vocabulary_size=40, dtype=policy
    )
    model.log_temperature.assign(20.0)
    inputs = {
        "images": rng.uniform(-1, 1, (4, 16, 16, 3)).astype("float32"),
        "token_ids": rng.integers(0, 40, (4, 8)).astype("int32"),
    }
    logits = model(inputs)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert np.isfinite(keras.ops.convert_to_numpy(logits)).all()
    image_embeddings = model.encode_images(inputs["images"])
    text_embeddings = model.encode_texts(inputs["token_ids"])
    assert keras.backend.standardize_dtype(image_embeddings.dtype) == "float32"
    # exp(20) = 4.9e8 overflows float16: what reaches the loss must not have been
    # computed in it. Reference: the same loss in float64 NumPy.
    x = keras.ops.convert_to_numpy(image_embeddings).astype("float64")
    y = keras.ops.convert_to_numpy(text_embeddings).astype("float64")
    loss = model.compute_loss(inputs, None, logits)
    assert np.isfinite(float(loss))
    np.testing.assert_allclose(float(loss), numpy_sigmoid_loss(x, y, 20.0, -10.0), rtol=1e-4)
    value, gradients = value_and_gradients(
        losses.sigmoid_loss,
        x.astype("float32"),
        y.astype("float32"),
        np.float32(20.0),
        np.float32(-10.0),
    )
    assert np.isfinite(value) and all(np.isfinite(gradient).all() for gradient in gradients)
    # bfloat16 has float32's range, so every weight's gradient is finite. float16
    # towers receive gradients of about exp(20) / batch, past float16's 65,504: those
    # need loss scaling (keras.optimizers.LossScaleOptimizer); the temperature and
    # the bias, computed in float32, are finite either way.
    variables = (
        model.trainable_variables
        if policy == "mixed_bfloat16"
        else [model.log_temperature, model.bias]
    )
    value, gradients = variable_gradients(
        lambda: model.compute_loss(inputs, None, model(inputs, training=True)), variables
    )
    assert np.isfinite(value) and all(np.isfinite(gradient).all() for gradient in gradients)


def test_compute_loss_names_unequal_image_and_text_batches(rng):
    from keras_siglip import SigLIP

    model = SigLIP.from_variant("Pico/8", image_size=16, sequence_length=8, vocabulary_size=40)
    with pytest.raises(
        ValueError, match=r"compute_loss.*needs matching image and text batches.*5 images and 3"
    ):
        model.compute_loss(None, None, keras.ops.zeros((5, 3)))
