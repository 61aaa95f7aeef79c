"""`SigLIP` refuses bad inputs in `fit`, `evaluate`, `predict` and `encode_texts`, on
the compiled steps of every backend, with errors that name the input; and mixed
float16 training keeps its weights finite."""

import keras
import numpy as np
import pytest
from helpers import LENGTH, VOCABULARY, pico, random_batch
from test_layers import as_numpy

METHODS = {
    "fit": lambda model, x: model.fit(x, batch_size=4, shuffle=False, epochs=1, verbose=0),
    "evaluate": lambda model, x: model.evaluate(x, batch_size=4, verbose=0),
    "predict": lambda model, x: model.predict(x, batch_size=4, verbose=0),
    "encode_texts": lambda model, x: model.encode_texts(x["token_ids"]),
}


def weights(model):
    return [np.array(as_numpy(variable)) for variable in model.weights]


def out_of_range(bad_id):
    """The error for a batch whose ids reach `bad_id`, -1 or the vocabulary size."""
    found = rf"from {bad_id} to \d+\." if bad_id < 0 else rf"from \d+ to {bad_id}\."
    return (
        rf"`token_ids` must lie in \[0, {VOCABULARY}\) \(vocabulary size {VOCABULARY}\); "
        rf"got values {found}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(METHODS))
def test_token_ids_out_of_range_are_refused_before_the_step(rng, method):
    model = pico()
    model.compile()
    good = random_batch(rng)
    model.fit(good, epochs=1, verbose=0)  # compiled steps exist before the bad batch
    for bad_id in (VOCABULARY, -1):
        before = weights(model)
        bad = {**good, "token_ids": good["token_ids"].copy()}
        bad["token_ids"][5, 2] = bad_id  # in the second batch of 4
        with pytest.raises(ValueError, match=out_of_range(bad_id)):
            METHODS[method](model, bad)
        if method != "fit":  # fit has trained on the first batch
            assert all(np.array_equal(a, b) for a, b in zip(before, weights(model)))
        assert all(np.all(np.isfinite(w)) for w in weights(model))
    # The model is intact and usable afterwards.
    history = model.fit(good, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


@pytest.mark.slow
def test_a_refused_first_batch_leaves_the_weights_as_they_were(rng):
    # The first batch of a fit: on JAX, Keras has already detached the variables
    # from their values when the step function is called.
    model = pico()
    model.compile()
    before = weights(model)
    for bad_id in (VOCABULARY, -1):
        bad = random_batch(rng)
        bad["token_ids"][0, 0] = bad_id
        with pytest.raises(ValueError, match=out_of_range(bad_id)):
            model.fit(bad, batch_size=4, shuffle=False, epochs=1, verbose=0)
        assert all(np.array_equal(a, b) for a, b in zip(before, weights(model)))


@pytest.mark.slow
def test_every_batch_of_a_multi_step_execution_is_checked(rng):
    if keras.backend.backend() == "torch":
        pytest.skip("Keras' PyTorch trainer runs one step per execution.")
    model = pico()
    model.compile(steps_per_execution=2)
    x = random_batch(rng, 16)
    x["token_ids"][13, 1] = VOCABULARY + 5  # in the second step of the second execution
    with pytest.raises(ValueError, match=rf"to {VOCABULARY + 5}\."):
        model.fit(x, batch_size=4, shuffle=False, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=rf"to {VOCABULARY + 5}\."):
        model.predict(x, batch_size=4, verbose=0)


@pytest.mark.slow
def test_tf_data_batches_are_checked(rng):
    import tensorflow as tf

    model = pico()
    model.compile()
    x = random_batch(rng)
    x["token_ids"][6, 0] = -3
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(4)
    with pytest.raises(ValueError, match="got values from -3 to"):
        model.fit(dataset, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="got values from -3 to"):
        model.evaluate(dataset, verbose=0)


@pytest.mark.parametrize(
    "change,message",
    [
        (
            lambda x: {**x, "images": x["images"].reshape(8, 16, 48)},
            r"`images` must have shape \(batch, 16, 16, 3\).*got rank 3",
        ),
        (
            lambda x: {**x, "images": x["images"][:, None]},
            r"`images` must have shape \(batch, 16, 16, 3\).*got rank 5",
        ),
        (
            lambda x: {**x, "images": (x["images"] * 127 + 128).astype("uint8")},
            "`images` must be floats.*got dtype uint8",
        ),
        (
            lambda x: {**x, "token_ids": x["token_ids"][:, 0]},
            rf"`token_ids` must have shape \(batch, {LENGTH}\); got rank 1",
        ),
        (
            lambda x: {**x, "token_ids": x["token_ids"][..., None]},
            rf"`token_ids` must have shape \(batch, {LENGTH}\); got rank 3",
        ),
        (
            lambda x: {**x, "token_ids": x["token_ids"].astype("float32")},
            "`token_ids` must be integers; got dtype float32",
        ),
        (
            lambda x: {**x, "token_ids": x["token_ids"][:5]},
            r"one text per image.*got 8 images and 5 texts",
        ),
        (lambda x: (x["images"], x["token_ids"]), r"keys 'images' and 'token_ids'; got tuple"),
    ],
)
@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_bad_shapes_and_dtypes_in_fit_evaluate_predict(rng, change, message, method):
    model = pico()
    model.compile()
    with pytest.raises(ValueError, match=message):
        METHODS[method](model, change(random_batch(rng)))


def test_call_still_takes_unequal_image_and_text_counts(rng):
    model = pico()
    logits = model(
        {"images": random_batch(rng, 3)["images"], "token_ids": random_batch(rng, 5)["token_ids"]}
    )
    assert tuple(logits.shape) == (3, 5)


def test_non_arrays_are_named():
    model = pico()
    with pytest.raises(ValueError, match="`token_ids` must be an array or tensor.*got list"):
        model.encode_texts([[1] * LENGTH])


def test_compile_scales_the_loss_under_mixed_float16():
    model = pico(dtype="mixed_float16")
    model.compile()
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    own = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD())
    model.compile(optimizer=own)
    assert model.optimizer is own
    bfloat16 = pico(dtype="mixed_bfloat16")
    bfloat16.compile()  # bfloat16 has float32's range: no scaling needed
    assert not isinstance(bfloat16.optimizer, keras.optimizers.LossScaleOptimizer)


@pytest.mark.slow
def test_mixed_float16_fit_keeps_every_weight_finite_at_a_large_temperature(rng):
    if keras.backend.backend() == "jax":
        pytest.skip(
            "JAX's CPU dot_general has no float16 x float16 -> float32 precision, which "
            "Keras' float16 matmul asks for."
        )
    model = pico(dtype="mixed_float16", log_temperature_init=20.0)
    model.compile(learning_rate=1e-2)
    history = model.fit(random_batch(rng, 8), epochs=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert all(np.all(np.isfinite(w)) for w in weights(model))
