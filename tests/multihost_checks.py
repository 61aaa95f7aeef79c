"""One of two processes of test_distribution.py's multi-host check (4 CPU devices each).

    python tests/multihost_checks.py PROCESS_ID PORT

Both processes join JAX's distributed runtime on `localhost:PORT` through
`keras.distribution.initialize` (before any other JAX call), feed their own half
of the same global batch (`auto_shard_dataset=False`), and compute the ring loss
and its gradients over the 8 devices of both. Each compares that with the dense
loss it computes alone, on one device, for the whole batch, and prints one line
`RESULTS {json}`.
"""

import json
import math
import os
import sys

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
)
os.environ["KERAS_BACKEND"] = "jax"

import keras  # noqa: E402

NUM_PROCESSES = 2
PER_DEVICE_BATCH = 3


def main():
    process_id, port = int(sys.argv[1]), int(sys.argv[2])
    keras.distribution.initialize(
        job_addresses=f"localhost:{port}", num_processes=NUM_PROCESSES, process_id=process_id
    )
    import jax
    import numpy as np

    from keras_siglip import losses
    from keras_siglip.distribution import data_parallel

    distribution = data_parallel(auto_shard_dataset=False)
    num_devices = len(jax.devices())
    batch_size = num_devices * PER_DEVICE_BATCH
    rng = np.random.default_rng(0)  # the same global batch in both processes
    embeddings = []
    for _ in range(2):
        rows = rng.normal(size=(batch_size, 16))
        embeddings.append((rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype("float32"))
    scalars = [np.float32(math.log(10.0)), np.float32(-5.0)]

    local_rows = batch_size // NUM_PROCESSES
    own = slice(process_id * local_rows, (process_id + 1) * local_rows)
    sharding = jax.sharding.NamedSharding(
        distribution.device_mesh.backend_mesh, jax.sharding.PartitionSpec("batch")
    )
    global_arrays = [
        jax.make_array_from_process_local_data(sharding, rows[own], (batch_size, 16))
        for rows in embeddings
    ]
    gradient = jax.value_and_grad(losses.sigmoid_loss, argnums=(0, 1, 2, 3))
    with distribution.scope():
        value, gradients = jax.jit(gradient)(*global_arrays, *scalars)

    local_device = jax.local_devices()[0]
    dense_value, dense_gradients = jax.jit(
        lambda *a: gradient(*a, ring=False), device=local_device
    )(*embeddings, *scalars)

    def error(got, expected):
        got, expected = np.asarray(got, "float64"), np.asarray(expected, "float64")
        return float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), 1e-30))

    # The embedding gradients are sharded: compare this process's rows.
    embedding_errors = [
        max(
            error(shard.data, np.asarray(expected)[shard.index])
            for shard in sharded.addressable_shards
        )
        for sharded, expected in zip(gradients[:2], dense_gradients[:2])
    ]
    results = {
        "process_id": jax.process_index(),
        "process_count": jax.process_count(),
        "devices": num_devices,
        "local_devices": len(jax.local_devices()),
        "value": float(value),
        "value_error": abs(float(value) / float(dense_value) - 1),
        "gradient_errors": embedding_errors
        + [error(g, d) for g, d in zip(gradients[2:], dense_gradients[2:])],
    }
    print("RESULTS " + json.dumps(results), flush=True)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
