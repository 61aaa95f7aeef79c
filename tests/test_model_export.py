"""`SigLIP.export`: a SavedModel straight from `from_preset` / `from_variant`, whose
served function gives the model's logits for any number of images and texts."""

import keras
import numpy as np
import pytest
from helpers import IMAGE_SIZE, LENGTH, VOCABULARY, pico

from keras_siglip import SigLIP

BACKEND = keras.backend.backend()
needs_saved_model_backend = pytest.mark.skipif(
    BACKEND == "torch",
    reason="Keras' SavedModel export on PyTorch takes no dict of inputs (SigLIP's); "
    "test_export_on_torch_says_which_backend_to_use covers it",
)


def inputs(rng, num_images, num_texts, image_size, length, vocabulary):
    return {
        "images": rng.uniform(-1, 1, (num_images, image_size, image_size, 3)).astype("float32"),
        "token_ids": rng.integers(0, vocabulary, (num_texts, length)).astype("int32"),
    }


@pytest.mark.slow  # jax2tf conversion takes about a minute on two cores
@needs_saved_model_backend
def test_export_without_a_call_serves_the_models_logits(tmp_path):
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = SigLIP.from_preset("siglip_pico_patch8_32", load_weights=False)
    size, length, vocabulary = 32, 16, 1024
    model.export(str(tmp_path / "served"), verbose=False)  # never called before
    served = tf.saved_model.load(str(tmp_path / "served"))
    rng = np.random.default_rng(1)
    # Counts that differ from each other and between calls: one traced function.
    for num_images, num_texts in ((3, 5), (1, 4), (2, 1)):
        batch = inputs(rng, num_images, num_texts, size, length, vocabulary)
        logits = served.serve(batch).numpy()
        expected = keras.ops.convert_to_numpy(model(batch))
        assert logits.shape == (num_images, num_texts)
        np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=0)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TFSMLayer runs on the TensorFlow backend only")
def test_exported_model_reloads_as_a_keras_layer(tmp_path):
    keras.utils.set_random_seed(0)
    model = pico()  # from_variant, never called
    model.export(str(tmp_path / "served"), verbose=False)
    layer = keras.layers.TFSMLayer(str(tmp_path / "served"), call_endpoint="serve")
    batch = inputs(np.random.default_rng(2), 2, 3, IMAGE_SIZE, LENGTH, VOCABULARY)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(batch)),
        keras.ops.convert_to_numpy(model(batch)),
        atol=1e-5,
        rtol=0,
    )


def test_serving_signature_has_the_towers_fixed_sizes():
    model = pico(image_size=24, sequence_length=7)
    signature = model.serving_signature()
    assert tuple(signature["images"].shape) == (None, 24, 24, 3)
    assert tuple(signature["token_ids"].shape) == (None, 7)
    assert signature["token_ids"].dtype == "int32"


@pytest.mark.skipif(BACKEND != "torch", reason="the PyTorch backend's message")
def test_export_on_torch_says_which_backend_to_use(tmp_path):
    with pytest.raises(ValueError, match="KERAS_BACKEND=tensorflow"):
        pico().export(str(tmp_path / "served"))
