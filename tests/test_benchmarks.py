"""The benchmark scripts' bookkeeping (no timings: those are never asserted)."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
)
import inference  # noqa: E402
import matmul_floor  # noqa: E402
import train_step  # noqa: E402


@pytest.mark.parametrize("config_name", sorted(train_step.CONFIGS))
def test_two_independent_flop_counts_agree(config_name):
    """`train_step.step_flops` (a formula per block) and `matmul_floor` (a list of
    the products with their shapes) count the same arithmetic. They differ only
    in the attention-pooling probe's query, which does not depend on the input:
    the list computes it once per batch, the formula once per image."""
    config = train_step.CONFIGS[config_name]
    width, batch = config["hidden_dim"], config["batch_size"]
    probe_query = 2 * width * width * 3  # forward and both gradients
    difference = matmul_floor.counted_flops(config) - train_step.step_flops(config)
    assert difference == probe_query - batch * probe_query


def test_b16_products_have_the_model_shapes():
    products = matmul_floor.products(train_step.CONFIGS["b16"])
    # Patch embedding, 12 image blocks of 8 products, 8 in the head, 12 text blocks, 1.
    assert len(products) == 1 + 12 * 8 + 8 + 12 * 8 + 1
    assert products[0] == ((), 8 * 196, 16 * 16 * 3, 768, False)
    assert ((8 * 12,), 196, 64, 196, True) in products
    assert ((), 8 * 64, 3072, 768, True) in products


def test_keras_hub_xla_runs_on_tensorflow_only():
    keys = list(
        train_step.combinations(
            ["small"], ["ours", "keras_hub_xla", "transformers"], ["jax", "tensorflow"]
        )
    )
    assert keys == [
        ("small", "ours", "jax"),
        ("small", "ours", "tensorflow"),
        ("small", "keras_hub_xla", "tensorflow"),
        ("small", "transformers", "torch (native)"),
    ]
    assert list(train_step.combinations(["small"], ["keras_hub_xla"], ["jax"])) == []


# --- inference.py --------------------------------------------------------------------


@pytest.fixture(scope="module")
def jpeg_files(tmp_path_factory):
    return inference.write_photos(str(tmp_path_factory.mktemp("jpeg")), 5, 40, 90)


def test_inference_files_are_jpeg_photos_of_the_asked_sides(jpeg_files):
    from PIL import Image

    for path in jpeg_files:
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert all(40 <= side <= 90 for side in image.size)


@pytest.mark.slow  # builds both libraries' models, a 32,000-token text tower each
def test_inference_pipelines_embed_the_same_pixels(jpeg_files):
    """Both timed pipelines give one unit-length row per file, and both read and
    resize the files to nearly the same model input (bicubic with antialiasing),
    so the benchmark times the same work."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    size, batch = 32, 2
    whole, decode, _ = inference.ours(jpeg_files, "Pico/8", size, batch)
    theirs_whole, theirs_decode, _ = inference.transformers_pipeline(
        jpeg_files, "Pico/8", size, batch
    )
    for embeddings in (whole(jpeg_files), np.concatenate(theirs_whole(jpeg_files))):
        assert embeddings.shape == (5, 64)
        np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    mine = np.concatenate(decode(jpeg_files))
    theirs = np.concatenate([pixels.numpy() for pixels in theirs_decode(jpeg_files)])
    assert mine.shape == (5, size, size, 3) and theirs.shape == (5, 3, size, size)
    assert np.abs(mine - theirs.transpose(0, 2, 3, 1)).mean() < 0.03


def test_inference_table_has_one_row_per_run():
    assert list(inference.combinations(["ours", "transformers"], ["jax", "torch"])) == [
        ("ours", "jax"),
        ("ours", "torch"),
        ("transformers", "torch (native)"),
    ]
    result = {
        "seconds": [2.0, 4.0, 8.0],
        "warmup_seconds": 1.0,
        "decode_seconds": 1.0,
        "encode_seconds": 3.0,
    }
    (row,) = inference.table_rows({("ours", "jax"): result}, count=64)
    # 64 images over the median round (4 s); stages over all 64 images.
    assert row == ["ours", "jax", "16.0", "15.6", "46.9", "25%", "1.0"]


@pytest.mark.slow
def test_inference_quick_run_prints_its_table(capsys):
    import keras

    backend = keras.backend.backend()
    results = inference.main(["--quick", "--backend", backend, "--impl", "ours"])
    assert list(results) == [("ours", backend)]
    assert len(results[("ours", backend)]["seconds"]) == inference.QUICK["rounds"]
    printed = capsys.readouterr().out
    assert f"| ours | {backend} |" in printed and "Machine:" in printed
