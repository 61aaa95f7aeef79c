"""`SigLIP`: logits, loss, training with `fit`, saving, presets and input checks."""

import math
import os
import warnings

import keras
import numpy as np
import numpy_reference as reference
import pytest
import tensorflow as tf
from helpers import VOCABULARY, pico, random_batch
from test_layers import as_numpy, randomize
from test_losses import numpy_sigmoid_loss, numpy_softmax_loss

from keras_siglip import SigLIP, losses


def unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_initialisation_follows_the_paper():
    model = pico()
    assert float(model.log_temperature.numpy()) == pytest.approx(math.log(10.0))
    assert float(model.bias.numpy()) == pytest.approx(-10.0)
    custom = pico(log_temperature_init=0.0, bias_init=-3.0)
    assert float(custom.bias.numpy()) == pytest.approx(-3.0)


def test_logits_are_the_maths_on_the_encoders(rng):
    model = pico(log_temperature_init=1.3, bias_init=-2.0)
    randomize(model.image_encoder, rng)
    randomize(model.text_encoder, rng)
    inputs = random_batch(rng, 5)
    image_embeddings = unit(
        reference.image_encoder(inputs["images"].astype(np.float64), model.image_encoder)
    )
    text_embeddings = unit(reference.text_encoder(inputs["token_ids"], model.text_encoder))
    expected = math.exp(1.3) * image_embeddings @ text_embeddings.T - 2.0
    np.testing.assert_allclose(as_numpy(model(inputs)), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        as_numpy(model.encode_images(inputs["images"])), image_embeddings, rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        np.linalg.norm(as_numpy(model.encode_texts(inputs["token_ids"])), axis=1), 1.0, rtol=1e-6
    )
    loss = model.compute_loss(y_pred=model(inputs))
    np.testing.assert_allclose(
        float(loss),
        numpy_sigmoid_loss(image_embeddings, text_embeddings, 1.3, -2.0),
        rtol=1e-4,
    )


def test_fit_lowers_the_loss_with_dicts_and_tf_data(rng):
    model = pico()
    data = random_batch(rng, 32)
    model.compile(learning_rate=3e-3)
    before = model.evaluate(data, batch_size=16, verbose=0)
    history = model.fit(data, batch_size=16, epochs=8, verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(16)
    after_dataset = model.fit(dataset, epochs=2, shuffle=False, verbose=0).history["loss"][-1]
    after = model.evaluate(dataset, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after < 0.5 * before
    assert np.isfinite(after_dataset)
    logits = model.predict(dataset, verbose=0)
    # predict runs per batch, so it returns each batch's 16 x 16 logits stacked.
    assert logits.shape == (32, 16)


def test_softmax_loss_option(rng):
    model = pico()
    model.compile(loss="softmax")
    inputs = random_batch(rng, 6)
    embeddings = (
        as_numpy(model.encode_images(inputs["images"])),
        as_numpy(model.encode_texts(inputs["token_ids"])),
    )
    np.testing.assert_allclose(
        float(model.compute_loss(y_pred=model(inputs))),
        numpy_softmax_loss(*embeddings, math.log(10.0)),
        rtol=1e-4,
    )
    history = model.fit(inputs, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_weight_decay_shrinks_kernels_only(rng):
    model = pico()
    model.compile(learning_rate=1e-2, weight_decay=0.1)
    variables = model.trainable_variables
    before = [as_numpy(v) for v in variables]
    # With zero gradients Adam moves nothing, so only weight decay acts.
    model.optimizer.apply([keras.ops.zeros(v.shape, v.dtype) for v in variables], variables)
    decayed = {id(v) for v in variables} - {id(v) for v in model.variables_without_decay()}
    for variable, old in zip(variables, before):
        new = as_numpy(variable)
        if id(variable) in decayed:
            assert variable.path.endswith("kernel")
            np.testing.assert_allclose(new, old * (1 - 0.1), rtol=1e-5)
        else:
            np.testing.assert_array_equal(new, old)
    excluded = {v.path.split("/")[-1] for v in model.variables_without_decay()}
    assert {"bias", "gamma", "beta", "embeddings", "probe", "log_temperature"} <= excluded


@pytest.mark.parametrize("multiplier", [1.0, 10.0])
def test_temperature_and_bias_learning_rate_multiplier(rng, multiplier):
    """Adam's first step moves every weight with a nonzero gradient by the learning
    rate (m / sqrt(v) = g / |g|): the temperature and bias move `multiplier` times
    as far, the other weights (no decay here) by the plain rate."""
    model = pico()
    model.compile(
        learning_rate=1e-3,
        weight_decay=0.0,
        gradient_clip_norm=None,
        temperature_and_bias_learning_rate_multiplier=multiplier,
    )
    variables = model.trainable_variables
    before = [as_numpy(v) for v in variables]
    # Bounded away from zero, where Adam's epsilon would matter.
    gradients = [
        (rng.choice([-1, 1], v.shape) * rng.uniform(0.5, 1.5, v.shape)).astype("float32")
        for v in variables
    ]
    model.optimizer.apply([keras.ops.convert_to_tensor(g) for g in gradients], variables)
    for variable, old, gradient in zip(variables, before, gradients):
        rate = 1e-3 * (
            multiplier if variable.path in ("siglip/log_temperature", "siglip/bias") else 1.0
        )
        # Adam's epsilon (1e-7) against gradients of order 1 leaves a relative 1e-6 or so.
        np.testing.assert_allclose(
            as_numpy(variable), old - rate * np.sign(gradient), rtol=0, atol=1e-6 * rate / 1e-3
        )
    if multiplier != 1.0:
        # Saved with the model's compile config: the optimizer carries the multipliers.
        restored = keras.optimizers.deserialize(keras.optimizers.serialize(model.optimizer))
        assert restored.learning_rate_multipliers == {
            "siglip/log_temperature": 10.0,
            "siglip/bias": 10.0,
        }


def test_compile_rejects_bad_settings():
    model = pico()
    with pytest.raises(ValueError, match="`learning_rate` must be a float"):
        model.compile(learning_rate="fast")
    with pytest.raises(ValueError, match="`warmup_steps` needs `decay_steps`"):
        model.compile(warmup_steps=10)
    with pytest.raises(ValueError, match="Unknown loss 'l2'"):
        model.compile(loss="l2")
    with pytest.raises(
        ValueError,
        match="`temperature_and_bias_learning_rate_multiplier` must be a positive number, got 0",
    ):
        model.compile(temperature_and_bias_learning_rate_multiplier=0)
    with pytest.raises(
        ValueError, match="applies to the default optimizer; with your own `optimizer`"
    ):
        model.compile(optimizer="adam", temperature_and_bias_learning_rate_multiplier=10)


def test_jit_compile_auto_means_xla_on_jax_and_tensorflow():
    """Keras' "auto" turns XLA off for TensorFlow on a CPU-only machine; SigLIP's
    keeps it, as benchmarks/README.md's train-step table measures. An explicit choice and
    `run_eagerly` win."""
    backend = keras.backend.backend()
    model = pico()
    model.compile()
    assert model.jit_compile is {"jax": True, "tensorflow": True, "torch": False}[backend]
    model.compile(jit_compile=False)
    assert model.jit_compile is False
    model.compile(run_eagerly=True)
    assert model.jit_compile is False
    if backend == "tensorflow":
        # Keras finds a model unsupported by XLA under op determinism; "auto" then
        # falls back to the graph, as Keras' own "auto" does, without a warning.
        from tensorflow.python.framework import config as tf_config

        tf.config.experimental.enable_op_determinism()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                model.compile()
            assert model.jit_compile is False
        finally:
            tf_config.disable_op_determinism()
        model.compile()
        assert model.jit_compile is True


@pytest.mark.skipif(
    keras.backend.backend() == "torch", reason="jit_compile=True is torch.compile on PyTorch"
)
def test_xla_and_plain_train_steps_agree(rng):
    """Two steps of the same model with and without XLA give the same weights.

    Plain SGD, so that the weights carry the gradients' differences as they are
    (Adam's first steps move every weight by about the learning rate whatever the
    gradient's size, and a gradient near zero can change sign with rounding)."""
    data = random_batch(rng)
    trained = []
    for jit_compile in (True, False):
        keras.utils.set_random_seed(3)
        model = pico()
        model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=jit_compile)
        for _ in range(2):
            model.train_on_batch(data)
        trained.append([as_numpy(v) for v in model.trainable_variables])
    for with_xla, without in zip(*trained):
        np.testing.assert_allclose(with_xla, without, rtol=1e-4, atol=1e-5)


def test_warmup_cosine_schedule():
    model = pico()
    model.compile(learning_rate=1e-3, warmup_steps=10, decay_steps=100)
    optimizer = model.optimizer
    for step, expected in [(0, 0.0), (5, 5e-4), (10, 1e-3), (60, 5e-4), (110, 0.0)]:
        optimizer.iterations.assign(step)
        assert float(optimizer.learning_rate) == pytest.approx(expected, abs=1e-9)


def test_keras_file_round_trip_keeps_outputs_and_training_setup(rng, tmp_path):
    model = pico()
    model.compile(loss="softmax")
    inputs = random_batch(rng, 4)
    model.fit(inputs, epochs=1, verbose=0)
    path = os.path.join(tmp_path, "siglip.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, SigLIP)
    np.testing.assert_array_equal(as_numpy(restored(inputs)), as_numpy(model(inputs)))
    assert isinstance(restored.contrastive_loss, losses.SoftmaxLoss)
    restored.fit(inputs, epochs=1, verbose=0)


def test_mixed_precision_is_stable_at_extreme_logits(rng):
    model = pico(dtype="mixed_bfloat16", log_temperature_init=math.log(1e4), bias_init=-1e4)
    inputs = random_batch(rng, 8)
    logits = model(inputs)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert np.all(np.isfinite(as_numpy(logits)))
    model.compile()
    history = model.fit(inputs, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert all(np.all(np.isfinite(as_numpy(v))) for v in model.trainable_variables)


def test_float16_model_trains_without_overflow(rng):
    if keras.backend.backend() == "jax":
        pytest.skip(
            "JAX's CPU dot_general has no float16 x float16 -> float32 precision, which "
            "Keras' float16 matmul asks for; bfloat16 is covered on every backend."
        )
    model = pico(dtype="mixed_float16")
    model.compile()
    history = model.fit(random_batch(rng, 8), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda x: {**x, "images": x["images"].reshape(8, 16, 48)}, r"got rank 3"),
        (lambda x: {**x, "images": x["images"][..., :1]}, r"3 channels last.*\(8, 16, 16, 1\)"),
        (
            lambda x: {**x, "images": np.zeros((8, 24, 24, 3), "float32")},
            r"16x16.*\(8, 24, 24, 3\)",
        ),
        (
            lambda x: {**x, "images": (x["images"] * 127 + 128).astype("uint8")},
            "floats scaled to \\[-1, 1\\]; got dtype uint8",
        ),
        (lambda x: {**x, "token_ids": x["token_ids"][:, :4]}, "fixed length 6 .* got length 4"),
        (lambda x: {**x, "token_ids": x["token_ids"][:, 0]}, r"\(batch, 6\); got rank 1"),
        (
            lambda x: {**x, "token_ids": x["token_ids"].astype("float32")},
            "must be integers; got dtype float32",
        ),
        (lambda x: {**x, "token_ids": x["token_ids"] + VOCABULARY}, r"\[0, 40\).*from 4\d to"),
        (
            lambda x: {**x, "token_ids": x["token_ids"] - VOCABULARY},
            r"\[0, 40\).*from -\d+ to -\d+",
        ),
        (lambda x: {"images": x["images"]}, r"keys 'images' and 'token_ids'; got \['images'\]"),
    ],
)
def test_bad_inputs_get_clear_errors(rng, change, message):
    model = pico()
    with pytest.raises(ValueError, match=message):
        model(change(random_batch(rng)))


def test_towers_must_share_the_embedding_size():
    from keras_siglip import ImageEncoder, TextEncoder

    image = ImageEncoder(
        image_size=16, patch_size=8, hidden_dim=8, num_layers=1, num_heads=2, intermediate_dim=8
    )
    text = TextEncoder(
        vocabulary_size=10,
        sequence_length=4,
        hidden_dim=8,
        num_layers=1,
        num_heads=2,
        intermediate_dim=8,
        embedding_dim=6,
    )
    with pytest.raises(ValueError, match="outputs 8 features but `text_encoder` outputs 6"):
        SigLIP(image, text)


@pytest.mark.slow
def test_base_preset_has_the_reference_parameter_count():
    model = SigLIP.from_preset("siglip_base_patch16_224", load_weights=False)
    # transformers' and open_clip's count of SigLIP B/16-224.
    assert model.count_params() == 203_155_970
    assert (model.image_size, model.sequence_length, model.vocabulary_size) == (224, 64, 32000)


def test_presets_build_and_explain_what_they_cannot_do(monkeypatch):
    from keras_siglip import list_presets

    names = list_presets()
    assert {"siglip_base_patch16_224", "siglip_so400m_patch14_224", "siglip_pico_patch8_32"} <= set(
        names
    )
    model = SigLIP.from_preset("siglip_pico_patch8_32", load_weights=False)
    assert (model.image_size, model.sequence_length) == (32, 16)
    larger = SigLIP.from_preset("siglip_pico_patch8_32", load_weights=False, image_size=48)
    assert larger.image_size == 48
    with pytest.raises(ValueError, match="Unknown preset 'siglip_huge'.*siglip_base_patch16_224"):
        SigLIP.from_preset("siglip_huge", load_weights=False)
    with pytest.raises(ValueError, match="architecture without weights"):
        SigLIP.from_preset("siglip_pico_patch8_32")
    # Official weights come from the Hugging Face Hub; this test forbids the download.
    from huggingface_hub import snapshot_download  # noqa: F401  (the dependency is there)

    import keras_siglip.presets.registry as registry

    requested = []

    def offline(handle):
        requested.append(handle)
        raise OSError("offline")

    monkeypatch.setattr(registry, "download", offline)
    with pytest.raises(OSError, match="offline"):
        SigLIP.from_preset("siglip_base_patch16_224")
    assert requested == ["hf://google/siglip-base-patch16-224"]
