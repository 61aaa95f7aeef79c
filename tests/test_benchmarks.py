"""The benchmark scripts' bookkeeping (no timings: those are never asserted)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
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
    keys = list(train_step.combinations(["small"], ["ours", "keras_hub_xla", "transformers"], ["jax", "tensorflow"]))
    assert keys == [
        ("small", "ours", "jax"),
        ("small", "ours", "tensorflow"),
        ("small", "keras_hub_xla", "tensorflow"),
        ("small", "transformers", "torch (native)"),
    ]
    assert list(train_step.combinations(["small"], ["keras_hub_xla"], ["jax"])) == []
