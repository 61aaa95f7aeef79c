"""The checks of test_distribution.py, run in a process with 8 simulated CPU devices.

JAX fixes its device count when it starts, so these run in their own process:
`python tests/distribution_checks.py` sets `XLA_FLAGS` before importing JAX, runs
every check, and prints one line `RESULTS {json}` that the tests assert on.
"""

import json
import math
import os
import sys

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
)
os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_siglip import SigLIP, losses  # noqa: E402
from keras_siglip import distribution as distribution_module  # noqa: E402
from keras_siglip.losses import sigmoid as sigmoid_module  # noqa: E402

NUM_DEVICES = 8
FIT_BATCH = 16
FIT_STEPS = 3


def unit_rows(rng, num_rows, dim):
    rows = rng.normal(size=(num_rows, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype("float32")


def relative_errors(got, expected):
    """Largest error of each gradient relative to its largest entry."""
    return [
        float(np.max(np.abs(np.asarray(a, "float64") - np.asarray(b, "float64"))))
        / max(float(np.max(np.abs(np.asarray(b, "float64")))), 1e-30)
        for a, b in zip(got, expected)
    ]


def loss_value_and_gradients(function, args):
    return jax.jit(jax.value_and_grad(function, argnums=(0, 1, 2, 3)))(*args)


def check_ring_matches_dense():
    """Ring against the single-device dense loss, value and the four gradients."""
    rng = np.random.default_rng(0)
    results = []
    distribution = keras.distribution.DataParallel()
    for per_device in (1, 2, 5):
        batch = per_device * NUM_DEVICES
        args = [unit_rows(rng, batch, 16), unit_rows(rng, batch, 16)]
        args += [np.float32(math.log(10.0)), np.float32(-5.0)]
        dense_value, dense_gradients = loss_value_and_gradients(losses.sigmoid_loss, args)
        for bidirectional in (False, True):
            for chunk_size in (None, 2):

                def ring_loss(*a, bidirectional=bidirectional, chunk_size=chunk_size):
                    return losses.sigmoid_loss(
                        *a, bidirectional=bidirectional, chunk_size=chunk_size
                    )

                with distribution.scope():
                    value, gradients = loss_value_and_gradients(ring_loss, args)
                    value_only = jax.jit(ring_loss)(*args)  # no gradient computed
                results.append(
                    {
                        "per_device": per_device,
                        "bidirectional": bidirectional,
                        "chunk_size": chunk_size,
                        "value_error": abs(float(value) / float(dense_value) - 1),
                        "value_only_error": abs(float(value_only) / float(dense_value) - 1),
                        "gradient_errors": relative_errors(gradients, dense_gradients),
                    }
                )
    return results


def check_compiled_collectives():
    """Which collectives the compiled ring (and the forced dense) loss contain."""
    rng = np.random.default_rng(1)
    batch = 4 * NUM_DEVICES
    args = [unit_rows(rng, batch, 16), unit_rows(rng, batch, 16), np.float32(1.0)]
    args.append(np.float32(-2.0))
    distribution = keras.distribution.DataParallel()
    sharded = jax.sharding.NamedSharding(
        distribution.device_mesh.backend_mesh, jax.sharding.PartitionSpec("batch")
    )
    args[:2] = [jax.device_put(a, sharded) for a in args[:2]]
    texts = {}
    for name, ring in (("ring", None), ("dense", False)):
        with distribution.scope():
            function = jax.value_and_grad(
                lambda *a, ring=ring: losses.sigmoid_loss(*a, ring=ring), argnums=(0, 1, 2, 3)
            )
            texts[name] = jax.jit(function).lower(*args).compile().as_text()
    return {
        name: {
            "collective_permute": "collective-permute" in text,
            "all_gather": "all-gather" in text,
        }
        for name, text in texts.items()
    }


def tiny_model():
    return SigLIP.from_variant("Pico/8", image_size=16, sequence_length=8, vocabulary_size=64)


def fit_data():
    rng = np.random.default_rng(2)
    return {
        "images": rng.uniform(-1, 1, size=(FIT_BATCH, 16, 16, 3)).astype("float32"),
        "token_ids": rng.integers(0, 64, size=(FIT_BATCH, 8)).astype("int32"),
    }


def fit_losses(model, data):
    """The loss of each of `FIT_STEPS` steps on the same batch (one per epoch)."""
    model.compile(learning_rate=1e-2)
    history = model.fit(data, batch_size=FIT_BATCH, epochs=FIT_STEPS, verbose=0)
    return [float(loss) for loss in history.history["loss"]]


def distributed_fit(distribution, weights, data):
    """Losses of `fit` under `distribution`, and whether its step traced the ring."""
    traced = []
    ring_loss = sigmoid_module.ring_sigmoid_loss

    def counted(*args, **kwargs):
        traced.append(True)
        return ring_loss(*args, **kwargs)

    sigmoid_module.ring_sigmoid_loss = counted
    try:
        with distribution.scope():
            model = tiny_model()
            model.set_weights(weights)
            step_losses = fit_losses(model, data)
    finally:
        sigmoid_module.ring_sigmoid_loss = ring_loss
    return model, step_losses, bool(traced)


def check_fit():
    keras.utils.set_random_seed(0)
    reference = tiny_model()
    weights = reference.get_weights()
    data = fit_data()
    results = {"single_device": fit_losses(reference, data)}
    _, results["data_parallel"], results["data_parallel_ring"] = distributed_fit(
        distribution_module.data_parallel(), weights, data
    )
    model, results["model_parallel"], results["model_parallel_ring"] = distributed_fit(
        distribution_module.model_parallel(mesh_shape=(2, 4)), weights, data
    )
    layouts = []
    for variable in model.variables:
        spec = list(variable.value.sharding.spec)
        layouts.append(
            {
                "path": variable.path,
                "spec": spec + [None] * (len(variable.shape) - len(spec)),
                "shard_shape": list(variable.value.addressable_shards[0].data.shape),
                "shape": list(variable.shape),
            }
        )
    results["model_parallel_layouts"] = layouts
    return results


def check_errors():
    results = {}
    mp = distribution_module.model_parallel(mesh_shape=(2, 4))
    mp._layout_map[r".*no_such_layer/kernel"] = (None, "model")
    try:
        with mp.scope():
            tiny_model().compile()
        results["dead_rule"] = "no error"
    except ValueError as error:
        results["dead_rule"] = str(error)
    outside = tiny_model()
    try:
        with distribution_module.model_parallel(mesh_shape=(2, 4)).scope():
            outside.compile()
        results["outside_scope"] = "no error"
    except ValueError as error:
        results["outside_scope"] = str(error)
    return results


def main():
    assert len(jax.devices()) == NUM_DEVICES, jax.devices()
    checks = sys.argv[1:] or ["ring", "collectives", "fit", "errors"]
    functions = {
        "ring": check_ring_matches_dense,
        "collectives": check_compiled_collectives,
        "fit": check_fit,
        "errors": check_errors,
    }
    results = {name: functions[name]() for name in checks}
    print("RESULTS " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
