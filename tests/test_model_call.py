"""`SigLIP.call`: any number of images against any number of texts."""

import keras
import numpy as np
import pytest

from keras_siglip import SigLIP


@pytest.fixture(scope="module")
def model():
    model = SigLIP.from_variant("Pico/8", image_size=16, sequence_length=8, vocabulary_size=30)
    model.log_temperature.assign(1.3)
    model.bias.assign(-2.5)
    return model


def numpy_logits(model, images, token_ids):
    """The logits from the towers' raw outputs, normalised and scored in float64."""
    image_features = np.asarray(keras.ops.convert_to_numpy(model.image_encoder(images)), np.float64)
    text_features = np.asarray(
        keras.ops.convert_to_numpy(model.text_encoder(token_ids)), np.float64
    )
    image_features /= np.linalg.norm(image_features, axis=1, keepdims=True)
    text_features /= np.linalg.norm(text_features, axis=1, keepdims=True)
    return np.exp(1.3) * image_features @ text_features.T - 2.5


@pytest.mark.parametrize("num_images, num_texts", [(1, 4), (3, 1), (2, 5), (4, 4), (1, 1)])
def test_logits_have_one_row_per_image_and_one_column_per_text(model, rng, num_images, num_texts):
    images = rng.uniform(-1, 1, (num_images, 16, 16, 3)).astype("float32")
    token_ids = rng.integers(0, 30, (num_texts, 8)).astype("int32")
    logits = keras.ops.convert_to_numpy(model({"images": images, "token_ids": token_ids}))
    assert logits.shape == (num_images, num_texts)
    np.testing.assert_allclose(logits, numpy_logits(model, images, token_ids), rtol=1e-4, atol=1e-4)
