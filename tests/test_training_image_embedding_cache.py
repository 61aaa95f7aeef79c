"""Cached image embeddings against the image tower called on the whole set."""

import keras
import numpy as np
import pytest

from keras_siglip import ImageEncoder, SigLIP, TextEncoder, losses
from keras_siglip.training import cache_image_embeddings

IMAGE_SIZE = 16


def image_encoder():
    return ImageEncoder(
        image_size=IMAGE_SIZE,
        patch_size=8,
        hidden_dim=16,
        num_layers=1,
        num_heads=2,
        intermediate_dim=32,
        dropout=0.5,  # must be off: the tower is frozen and runs in inference mode
    )


def images(rng, count):
    return rng.uniform(-1, 1, size=(count, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")


def reference(encoder, pixels):
    return keras.ops.convert_to_numpy(losses.l2_normalize(encoder(pixels, training=False)))


@pytest.mark.parametrize("batch_size", [4, 10, 32])
def test_array_in_batches_matches_the_whole_set(rng, batch_size):
    encoder, pixels = image_encoder(), images(rng, 10)
    cached = cache_image_embeddings(encoder, pixels, batch_size=batch_size)
    assert cached.shape == (10, 16) and cached.dtype == np.float32
    np.testing.assert_allclose(cached, reference(encoder, pixels), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(cached, axis=1), 1.0, rtol=1e-6)


def test_iterable_of_batches_and_siglip_model(rng):
    text_encoder = TextEncoder(
        vocabulary_size=10,
        sequence_length=4,
        hidden_dim=16,
        num_layers=1,
        num_heads=2,
        intermediate_dim=32,
    )
    model = SigLIP(image_encoder(), text_encoder)
    pixels = images(rng, 7)
    cached = cache_image_embeddings(model, iter([pixels[:3], pixels[3:6], pixels[6:]]))
    np.testing.assert_allclose(
        cached, keras.ops.convert_to_numpy(model.encode_images(pixels)), atol=1e-6
    )


def test_errors(rng):
    with pytest.raises(ValueError, match="at least one batch"):
        cache_image_embeddings(image_encoder(), iter([]))
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer"):
        cache_image_embeddings(image_encoder(), images(rng, 2), batch_size=0)
