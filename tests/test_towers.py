"""The towers against the NumPy reference, the variants, and serialisation."""

import os

import keras
import numpy as np
import numpy_reference as reference
import pytest
from test_layers import as_numpy, randomize

from keras_siglip.towers import ImageEncoder, TextEncoder, decode_variant

IMAGE_CONFIG = dict(
    image_size=20, patch_size=8, hidden_dim=8, num_layers=2, num_heads=2, intermediate_dim=12
)
TEXT_CONFIG = dict(
    vocabulary_size=50,
    sequence_length=6,
    hidden_dim=8,
    num_layers=2,
    num_heads=2,
    intermediate_dim=12,
    embedding_dim=10,
)


def test_image_encoder_matches_numpy(rng):
    encoder = ImageEncoder(**IMAGE_CONFIG)
    randomize(encoder, rng)
    images = rng.uniform(-1, 1, size=(3, 20, 20, 3)).astype("float32")
    np.testing.assert_allclose(
        as_numpy(encoder(images)),
        reference.image_encoder(images.astype(np.float64), encoder),
        rtol=1e-4,
        atol=1e-4,
    )
    # 20 px at patch 8 is a 2x2 grid: VALID padding drops the last 4 pixels.
    assert encoder.position_embedding.grid_size == 2
    assert tuple(encoder.output_shape) == (None, 8)


def test_text_encoder_matches_numpy_and_pools_the_last_position(rng):
    encoder = TextEncoder(**TEXT_CONFIG)
    randomize(encoder, rng)
    token_ids = rng.integers(0, 50, size=(4, 6)).astype("int32")
    output = as_numpy(encoder(token_ids))
    np.testing.assert_allclose(
        output, reference.text_encoder(token_ids, encoder), rtol=1e-4, atol=1e-4
    )
    assert output.shape == (4, 10)
    # Non-causal: the pooled last position sees the first token.
    changed = token_ids.copy()
    changed[:, 0] = (changed[:, 0] + 1) % 50
    assert not np.allclose(as_numpy(encoder(changed)), output)


@pytest.mark.parametrize(
    "encoder_class,config,inputs",
    [
        (ImageEncoder, IMAGE_CONFIG, np.zeros((2, 20, 20, 3), "float32")),
        (TextEncoder, TEXT_CONFIG, np.ones((2, 6), "int32")),
    ],
)
def test_towers_round_trip_through_config_and_keras_file(
    rng, tmp_path, encoder_class, config, inputs
):
    encoder = encoder_class(**config, dropout=0.1)
    randomize(encoder, rng)
    assert encoder_class.from_config(encoder.get_config()).get_config() == encoder.get_config()
    path = os.path.join(tmp_path, "tower.keras")
    encoder.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, encoder_class)
    np.testing.assert_array_equal(as_numpy(restored(inputs)), as_numpy(encoder(inputs)))


def test_mixed_precision_towers_compute_in_bfloat16():
    encoder = ImageEncoder(**IMAGE_CONFIG, dtype="mixed_bfloat16")
    output = encoder(np.zeros((1, 20, 20, 3), "float32"))
    assert keras.backend.standardize_dtype(output.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(encoder.weights[0].dtype) == "float32"
    restored = ImageEncoder.from_config(encoder.get_config())
    assert restored.tower_dtype_policy.name == "mixed_bfloat16"
    assert keras.backend.standardize_dtype(restored(np.zeros((1, 20, 20, 3))).dtype) == "bfloat16"


def test_variants_follow_the_reference_table():
    expected = {
        "B/16": (768, 12, 3072, 12, 16),
        "L/16": (1024, 24, 4096, 16, 16),
        "So400m/14": (1152, 27, 4304, 16, 14),
        "So400m/16": (1152, 27, 4304, 16, 16),
    }
    for variant, (width, depth, mlp, heads, patch) in expected.items():
        sizes = decode_variant(variant)
        for tower in ("image", "text"):
            assert sizes[tower] == {
                "hidden_dim": width,
                "num_layers": depth,
                "intermediate_dim": mlp,
                "num_heads": heads,
            }
        assert sizes["patch_size"] == patch
    nano = decode_variant("Nano/8")
    assert (nano["image"]["num_layers"], nano["text"]["num_layers"]) == (4, 2)
    # The main job's default: Nano with a layer moved to the image tower.
    deep_image = decode_variant("Nano-i5t1/8")
    assert (deep_image["image"]["num_layers"], deep_image["text"]["num_layers"]) == (5, 1)
    for tower in ("image", "text"):
        assert {k: v for k, v in deep_image[tower].items() if k != "num_layers"} == {
            k: v for k, v in nano[tower].items() if k != "num_layers"
        }


def test_nano_i5t1_has_nanos_parameters_in_other_towers():
    from keras_siglip import SigLIP

    def build(variant):
        return SigLIP.from_variant(variant, image_size=32, sequence_length=16, vocabulary_size=1000)

    nano, deep_image = build("Nano/8"), build("Nano-i5t1/8")
    assert deep_image.count_params() == nano.count_params() == 1_561_602
    assert deep_image.image_encoder.count_params() > nano.image_encoder.count_params()


@pytest.mark.parametrize(
    "variant,message",
    [
        ("B16", "must look like 'NAME/PATCH'"),
        ("Q/16", "Unknown variant name 'Q'"),
        ("B/x", "patch size .* must be a positive integer, got 'x'"),
        (16, "must look like 'NAME/PATCH'"),
    ],
)
def test_bad_variants_are_explained(variant, message):
    with pytest.raises(ValueError, match=message):
        decode_variant(variant)


def test_bad_tower_arguments_are_explained():
    with pytest.raises(
        ValueError, match=r"`patch_size` \(32\) must not exceed `image_size` \(16\)"
    ):
        ImageEncoder(**{**IMAGE_CONFIG, "image_size": 16, "patch_size": 32})
    with pytest.raises(ValueError, match="`vocabulary_size` must be a positive integer, got 0"):
        TextEncoder(**{**TEXT_CONFIG, "vocabulary_size": 0})


def test_a_config_above_the_size_ceilings_is_refused_before_allocating(monkeypatch):
    import resource

    from keras_siglip import SigLIP
    from keras_siglip.towers import ImageEncoder, TextEncoder, variants

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(
        ValueError,
        match="`hidden_dim` of the image_encoder is 10,000,000, above the ceiling of 16,384",
    ):
        ImageEncoder(
            image_size=224,
            patch_size=16,
            hidden_dim=10_000_000,
            num_layers=12,
            num_heads=12,
            intermediate_dim=3072,
        )
    with pytest.raises(ValueError, match="`vocabulary_size` of the text_encoder is 2,000,000"):
        TextEncoder(
            vocabulary_size=2_000_000,
            sequence_length=64,
            hidden_dim=768,
            num_layers=12,
            num_heads=12,
            intermediate_dim=3072,
        )
    # 10,000,000 x 768 float32 would be 30 GB: the peak memory barely moved.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KiB
    with pytest.raises(ValueError, match="`num_layers` of the image_encoder is 129"):
        SigLIP.from_config(
            {
                **SigLIP.from_variant("Pico/8", 16, 8, 40).get_config(),
                "image_encoder": {
                    "module": "keras_siglip.towers.image_encoder",
                    "class_name": "ImageEncoder",
                    "config": {
                        "image_size": 16,
                        "patch_size": 8,
                        "hidden_dim": 32,
                        "num_layers": 129,
                        "num_heads": 2,
                        "intermediate_dim": 64,
                    },
                    "registered_name": "keras_siglip>ImageEncoder",
                },
            }
        )
    # Each dimension within its ceiling, the whole too big: 128 layers of width 16,384.
    with pytest.raises(
        ValueError, match=r"about [0-9,]+ weights, above the ceiling of 20,000,000,000"
    ):
        ImageEncoder(
            image_size=224,
            patch_size=16,
            hidden_dim=16_384,
            num_layers=128,
            num_heads=128,
            intermediate_dim=65_536,
        )
    monkeypatch.setitem(variants.SIZE_CEILINGS, "num_layers", 2)
    with pytest.raises(
        ValueError, match="`num_layers` of the image_encoder is 3, above the ceiling of 2"
    ):
        ImageEncoder(
            image_size=16,
            patch_size=8,
            hidden_dim=8,
            num_layers=3,
            num_heads=2,
            intermediate_dim=16,
        )
