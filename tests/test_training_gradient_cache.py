"""Gradient caching against one forward and backward pass over the whole batch:
gradients of every variable, an optimizer step, dropout, training, and errors."""

import keras
import numpy as np
import pytest
from backend_gradients import variable_gradients
from test_losses import unit_rows

from keras_siglip import SigLIP, TextEncoder, losses
from keras_siglip.training import GradientCachedSigLiT, cache_image_embeddings

LENGTH, VOCABULARY, DIM, BATCH = 6, 50, 16, 24


def text_encoder(dropout=0.0):
    return TextEncoder(
        vocabulary_size=VOCABULARY,
        sequence_length=LENGTH,
        hidden_dim=DIM,
        num_layers=1,
        num_heads=2,
        intermediate_dim=32,
        dropout=dropout,
    )


def siglit_batch(rng, size=BATCH):
    token_ids = rng.integers(0, VOCABULARY, size=(size, LENGTH)).astype("int32")
    return token_ids, unit_rows(rng, size, DIM).astype("float32")


def direct_loss(trainer, token_ids, image_embeddings, micro_batch_size=None):
    """The dense loss of the whole batch, as one differentiable function.

    With `micro_batch_size`, the tower is called on micro-batches (as gradient
    caching calls it, so that dropout draws the same masks) inside that function.
    """
    step = micro_batch_size or len(token_ids)

    def loss():
        text_embeddings = keras.ops.concatenate(
            [
                losses.l2_normalize(
                    trainer.text_encoder(token_ids[start : start + step], training=True)
                )
                for start in range(0, len(token_ids), step)
            ]
        )
        return losses.sigmoid_loss(
            image_embeddings, text_embeddings, trainer.log_temperature, trainer.bias
        )

    return loss


def cached_gradients(trainer, token_ids, image_embeddings):
    loss, gradients = trainer.compute_gradients(token_ids, image_embeddings)
    as_numpy = lambda x: np.asarray(keras.ops.convert_to_numpy(x), "float64")  # noqa: E731
    return as_numpy(loss), [as_numpy(gradient) for gradient in gradients]


def assert_gradients_close(got, expected, rtol=1e-5):
    # Round-off of a sum scales with its largest terms: compare each gradient
    # relative to its own largest entry, and in absolute terms (1e-7) those that
    # are zero up to round-off (an attention key's bias: the softmax over keys
    # ignores a score added to every key).
    assert len(got) == len(expected)
    for got_one, expected_one in zip(got, expected):
        assert got_one.shape == expected_one.shape
        scale = max(float(np.max(np.abs(expected_one))), 1e-2)
        np.testing.assert_allclose(got_one, expected_one, rtol=rtol, atol=rtol * scale)


# Micro-batches that do not divide the batch (5), that do (8, with the dense loss),
# and one larger than the batch.
@pytest.mark.parametrize("micro_batch_size,chunk_size", [(5, 7), (8, None), (100, 7)])
def test_gradients_match_one_pass_over_the_whole_batch(rng, micro_batch_size, chunk_size):
    token_ids, image_embeddings = siglit_batch(rng)
    # A temperature and bias away from the paper's init, so that every pair matters.
    trainer = GradientCachedSigLiT(
        text_encoder(),
        micro_batch_size=micro_batch_size,
        chunk_size=chunk_size,
        log_temperature_init=1.5,
        bias_init=-2.0,
    )
    expected_loss, expected = variable_gradients(
        direct_loss(trainer, token_ids, image_embeddings), trainer.trainable_variables
    )
    loss, gradients = cached_gradients(trainer, token_ids, image_embeddings)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-6)
    assert_gradients_close(gradients, expected)
    # The comparison sees every variable: all but the key biases have a gradient.
    for variable, gradient in zip(trainer.trainable_variables, expected):
        assert (np.max(np.abs(gradient)) > 1e-3) != variable.path.endswith("key/bias")
    assert len(gradients) == len(trainer.text_encoder.trainable_variables) + 2


def test_one_step_matches_the_direct_step(rng):
    token_ids, image_embeddings = siglit_batch(rng)
    cached_encoder, direct_encoder = text_encoder(), text_encoder()
    direct_encoder.set_weights(cached_encoder.get_weights())

    def sgd():
        return keras.optimizers.SGD(learning_rate=0.5, momentum=0.9)

    cached = GradientCachedSigLiT(cached_encoder, sgd(), micro_batch_size=7, chunk_size=5)
    direct = GradientCachedSigLiT(direct_encoder, sgd())
    for _ in range(2):
        loss = cached.train_on_batch(token_ids, image_embeddings)
        direct_value, gradients = variable_gradients(
            direct_loss(direct, token_ids, image_embeddings), direct.trainable_variables
        )
        direct.optimizer.apply_gradients(
            zip(
                [keras.ops.convert_to_tensor(g, "float32") for g in gradients],
                direct.trainable_variables,
            )
        )
        np.testing.assert_allclose(loss, direct_value, rtol=1e-6)
    for got, expected in zip(cached.trainable_variables, direct.trainable_variables):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(got),
            keras.ops.convert_to_numpy(expected),
            rtol=1e-5,
            atol=1e-6,
        )
    assert float(keras.ops.convert_to_numpy(cached.bias)) != -10.0  # the step moved it


def test_dropout_draws_the_same_masks_in_both_passes(rng):
    token_ids, image_embeddings = siglit_batch(rng)
    micro_batch_size = 8
    trainer = GradientCachedSigLiT(
        text_encoder(dropout=0.3), micro_batch_size=micro_batch_size, chunk_size=8
    )
    # Both computations start from the same random state: the dropout layers' seed
    # generators, and the global seed (PyTorch's unseeded dropout draws from it).
    seeds = [keras.ops.copy(v.value) for v in trainer.text_encoder.non_trainable_variables]
    assert seeds
    keras.utils.set_random_seed(1)
    loss = direct_loss(trainer, token_ids, image_embeddings, micro_batch_size)
    expected_loss, expected = variable_gradients(loss, trainer.trainable_variables)
    for variable, value in zip(trainer.text_encoder.non_trainable_variables, seeds):
        variable.assign(value)
    keras.utils.set_random_seed(1)
    got_loss, gradients = cached_gradients(trainer, token_ids, image_embeddings)
    # float32 sums over the B^2 pairs in another order: 1.1e-6 apart on an AVX-512 CPU.
    np.testing.assert_allclose(got_loss, expected_loss, rtol=1e-5)
    assert_gradients_close(gradients, expected)
    # Dropout was active: the same texts embed differently in inference mode.
    training_outputs = trainer.text_encoder(token_ids[:micro_batch_size], training=True)
    inference_outputs = trainer.text_encoder(token_ids[:micro_batch_size], training=False)
    assert not np.allclose(
        keras.ops.convert_to_numpy(training_outputs), keras.ops.convert_to_numpy(inference_outputs)
    )


def test_a_few_steps_lower_the_loss(rng):
    token_ids, image_embeddings = siglit_batch(rng, 64)
    trainer = GradientCachedSigLiT(
        text_encoder(), keras.optimizers.Adam(1e-2), micro_batch_size=16, chunk_size=32
    )
    curve = [trainer.train_on_batch(token_ids, image_embeddings) for _ in range(5)]
    assert all(np.isfinite(curve))
    assert all(later < earlier for earlier, later in zip(curve, curve[1:]))


@pytest.mark.slow
def test_siglip_model_trains_its_text_tower_against_its_cached_image_embeddings(rng):
    image_size = 16
    model = SigLIP.from_variant(
        "Pico/8", image_size=image_size, sequence_length=LENGTH, vocabulary_size=VOCABULARY
    )
    images = rng.uniform(-1, 1, size=(12, image_size, image_size, 3)).astype("float32")
    image_embeddings = cache_image_embeddings(model, images, batch_size=6)
    token_ids = rng.integers(0, VOCABULARY, size=(12, LENGTH)).astype("int32")
    trainer = GradientCachedSigLiT(model, micro_batch_size=6, chunk_size=4)
    assert trainer.log_temperature is model.log_temperature and trainer.bias is model.bias
    image_weights = [np.copy(w) for w in model.image_encoder.get_weights()]
    text_weights = [np.copy(w) for w in model.text_encoder.get_weights()]
    trainer.train_on_batch(token_ids, image_embeddings)
    for before, after in zip(image_weights, model.image_encoder.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert any(
        not np.array_equal(before, after)
        for before, after in zip(text_weights, model.text_encoder.get_weights())
    )
    assert float(keras.ops.convert_to_numpy(model.bias)) != -10.0
    # The default optimizer (SigLIP.compile's AdamW) decays kernels only, for a
    # SigLIP model as for a tower alone.
    for trained in (trainer, GradientCachedSigLiT(text_encoder())):
        optimizer = trained.optimizer
        decayed = [
            v
            for v in trained.trainable_variables
            if optimizer._var_key(v) not in optimizer._exclude_from_weight_decay
        ]
        assert decayed and all(v.path.endswith("kernel") for v in decayed)


# --- Errors ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8", None])
def test_bad_micro_batch_size_is_a_clear_error(bad):
    import re

    message = (
        r"`micro_batch_size` must be a positive integer, the number of texts the text "
        rf"tower embeds and back-propagates through at once; got {re.escape(repr(bad))}\."
    )
    with pytest.raises(ValueError, match=message):
        GradientCachedSigLiT(text_encoder(), micro_batch_size=bad)


def test_numpy_integer_micro_batch_size_is_accepted():
    trainer = GradientCachedSigLiT(text_encoder(), micro_batch_size=np.int64(4))
    assert trainer.micro_batch_size == 4 and type(trainer.micro_batch_size) is int


def test_bad_inputs_are_clear_errors(rng):
    trainer = GradientCachedSigLiT(text_encoder(), micro_batch_size=4, chunk_size=4)
    token_ids, image_embeddings = siglit_batch(rng, 8)
    with pytest.raises(ValueError, match=r"pair up one to one: got 8 texts and 7 image"):
        trainer.train_on_batch(token_ids, image_embeddings[:7])
    with pytest.raises(ValueError, match=rf"`token_ids` must have shape \(batch_size, {LENGTH}\)"):
        trainer.train_on_batch(token_ids[:, :4], image_embeddings)
    with pytest.raises(
        ValueError, match=rf"`image_embeddings` must have shape \(batch_size, {DIM}\)"
    ):
        trainer.train_on_batch(token_ids, image_embeddings[:, :8])
    with pytest.raises(ValueError, match="`token_ids` must be integers"):
        trainer.train_on_batch(token_ids.astype("float32"), image_embeddings)
    out_of_range = np.copy(token_ids)
    out_of_range[3, 2] = VOCABULARY
    with pytest.raises(ValueError, match=rf"must lie in \[0, {VOCABULARY}\).* to {VOCABULARY}\."):
        trainer.train_on_batch(out_of_range, image_embeddings)
    with pytest.raises(ValueError, match="`chunk_size` must be None"):
        GradientCachedSigLiT(text_encoder(), chunk_size=0)


def test_model_arguments_are_checked():
    model = SigLIP.from_variant(
        "Pico/8", image_size=16, sequence_length=LENGTH, vocabulary_size=VOCABULARY
    )
    with pytest.raises(ValueError, match="a SigLIP model brings its own `log_temperature`"):
        GradientCachedSigLiT(model, bias_init=-5.0)
    model.text_encoder.trainable = False
    with pytest.raises(ValueError, match="The text tower has no trainable variables"):
        GradientCachedSigLiT(model)
