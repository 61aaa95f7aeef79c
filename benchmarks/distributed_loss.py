"""Multi-device sigmoid loss: per-device memory and step time, ring against all-gather.

For 1, 2, 4, 8 devices at a fixed per-device batch `b` (global batch `B = D * b`),
forward+backward of the sigmoid loss with respect to both embedding matrices, the
log-temperature and the bias, jitted with the embeddings sharded over the devices:

- `ring`: `keras_siglip.losses.sigmoid_loss` under `DataParallel` (the paper's
  ring, `keras_siglip/losses/ring.py`): `b x b` blocks, texts passed round the ring.
- `ring_bidir`: the same, passing texts both ways (`bidirectional=True`).
- `all_gather`: the dense loss (`ring=False`) on the same sharded embeddings:
  XLA's partitioner gathers the texts, each device holds `b x B` logits.

With one device all three are the single-device dense loss.

Per-device memory is XLA's own account of the compiled per-device program
(`compiled.memory_analysis()`): temporaries plus arguments plus outputs. The ring's
should stay flat as devices are added; the all-gather loss's grows with `B`.

Each device count runs in its own subprocess, because JAX fixes the number of
simulated CPU devices (`--xla_force_host_platform_device_count`) when it starts.
Simulated devices share the host's cores: the times show the overhead, not the
speed-up, of real devices. Times are measurements, never assertions.

Usage:

    python benchmarks/distributed_loss.py
    python benchmarks/distributed_loss.py --per-device-batch 1024 --dim 256 --devices 1 2 4 8
"""

import argparse
import json
import os
import subprocess
import sys

import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPLEMENTATIONS = ("ring", "ring_bidir", "all_gather")


def main():
    arguments = parse_arguments()
    if arguments.worker:
        print("RESULT " + json.dumps(run_worker(arguments)))
        return
    rows = []
    for num_devices in arguments.devices:
        environment = {
            **os.environ,
            "KERAS_BACKEND": "jax",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={num_devices}",
            "PYTHONPATH": ROOT,
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        command = [sys.executable, os.path.abspath(__file__), "--worker"]
        command += ["--per-device-batch", str(arguments.per_device_batch)]
        command += ["--dim", str(arguments.dim), "--repeats", str(arguments.repeats)]
        completed = subprocess.run(command, env=environment, capture_output=True, text=True)
        lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            sys.stderr.write(completed.stderr[-3000:])
            raise SystemExit(f"worker for {num_devices} devices failed")
        rows.extend(json.loads(lines[-1][len("RESULT ") :]))
        for row in rows[-len(IMPLEMENTATIONS) :]:
            print(f"# {row}", file=sys.stderr, flush=True)
    print_table(rows, arguments)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--per-device-batch", type=int, default=512)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def run_worker(arguments):
    import jax
    import keras
    import numpy as np

    from keras_siglip import losses

    num_devices = len(jax.devices())
    batch_size = num_devices * arguments.per_device_batch
    rng = np.random.default_rng(0)
    embeddings = []
    for _ in range(2):
        rows = rng.normal(size=(batch_size, arguments.dim)).astype("float32")
        embeddings.append(rows / np.linalg.norm(rows, axis=1, keepdims=True))
    distribution = keras.distribution.DataParallel()
    sharding = jax.sharding.NamedSharding(
        distribution.device_mesh.backend_mesh, jax.sharding.PartitionSpec("batch")
    )
    args = [jax.device_put(rows, sharding) for rows in embeddings]
    args += [np.float32(np.log(10.0)), np.float32(-10.0)]
    options = {
        "ring": {"ring": None},
        "ring_bidir": {"ring": None, "bidirectional": True},
        "all_gather": {"ring": False},
    }
    rows = []
    for name in IMPLEMENTATIONS:
        with distribution.scope():
            loss = lambda *a, o=options[name]: losses.sigmoid_loss(*a, **o)  # noqa: E731
            function = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))
            compiled = function.lower(*args).compile()
        memory = compiled.memory_analysis()
        times = common.time_calls(
            lambda: jax.block_until_ready(compiled(*args)),  # noqa: B023
            arguments.repeats,
            warmup=1,
        )
        text = compiled.as_text()
        rows.append(
            {
                "implementation": name,
                "devices": num_devices,
                "global_batch": batch_size,
                "temp_mib": memory.temp_size_in_bytes / 2**20,
                "total_mib": (
                    memory.temp_size_in_bytes
                    + memory.argument_size_in_bytes
                    + memory.output_size_in_bytes
                )
                / 2**20,
                "median_ms": 1e3 * common.median(times),
                "collective_permutes": text.count("collective-permute-start")
                or text.count("collective-permute("),
                "all_gathers": text.count("all-gather-start") or text.count("all-gather("),
            }
        )
    return rows


def print_table(rows, arguments):
    print(
        f"\nSigmoid loss forward+backward, per-device batch {arguments.per_device_batch}, "
        f"dim {arguments.dim}, float32, simulated CPU devices (JAX)\n"
    )
    header = [
        "implementation",
        "devices",
        "global B",
        "per-device temp MiB",
        "per-device total MiB",
        "median ms",
        "permutes",
        "all-gathers",
    ]
    cells = [
        [
            row["implementation"],
            row["devices"],
            row["global_batch"],
            f"{row['temp_mib']:.2f}",
            f"{row['total_mib']:.2f}",
            f"{row['median_ms']:.1f}",
            row["collective_permutes"],
            row["all_gathers"],
        ]
        for row in rows
    ]
    print(common.markdown_table(header, cells))
    print()
    print(common.machine_line(("jax", "keras")))
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
