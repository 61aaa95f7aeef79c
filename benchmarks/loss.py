"""Sigmoid loss forward+backward: time, peak extra memory and achieved GFLOP/s.

Three implementations of the same loss, each differentiated with respect to both
embedding matrices, the log-temperature and the bias:

- `dense`: `keras_siglip.losses.sigmoid_loss` (all `B x B` logits at once).
- `chunked`: `sigmoid_loss(..., chunk_size=N)` (tiles of `N x N` pairs; the
  gradient is computed in the same sweep as the value, see
  `keras_siglip/losses/chunked.py`).
- `keras_hub`: keras-hub's `SigLIPLoss` applied as `SigLIPBackbone` applies it:
  its `SigLIPHead` (L2 normalisation, `text @ images.T * exp(logit_scale) +
  logit_bias`), the dense `+1/-1` label matrix its `compute_loss` builds, and the
  loss with Keras' default sum-over-batch-size reduction.

All three take the same L2-normalised embeddings (what the loss receives in a
model); keras-hub's head normalises them once more, as it always does.

Each (implementation, batch size) runs in a fresh subprocess with `KERAS_BACKEND`
set, so that memory does not mix between runs. In it: the inputs are created and the
resident set size (RSS) read (the baseline); one untimed call compiles and warms
up; the kernel's peak-RSS counter is reset (`/proc/self/clear_refs`); then
`--repeats` timed calls. "Peak extra" is the peak RSS of the timed calls above the
baseline: the working memory of forward+backward including the gradients it returns,
excluding compilation. "Process peak" is the whole process's peak RSS (imports and
compilation included), for comparison with numbers measured that way.

FLOPs counted for every implementation: the forward logits product (`2 B^2 D`) and
the two gradient products (`dL/dx = g @ y`, `dL/dy = g.T @ x`, `4 B^2 D`), `6 B^2 D`
in all. None of the three recomputes the logits in its backward pass (dense autodiff
keeps them; the chunked loss computes its gradient in the forward sweep), so there
is no recomputation to count. Elementwise work is not counted. The machine's matmul
rate is measured in its own subprocess on the same backend (jitted on JAX and
TensorFlow): the best median of a few float32 products of the loss's shapes.

Batch sizes whose dense `B x B` buffers cannot fit in the available memory are
skipped for `dense` and `keras_hub` (the table says so); a run killed by the
operating system is reported as killed.

Usage:

    python benchmarks/loss.py --batch-sizes 2048 4096
    python benchmarks/loss.py --batch-sizes 8192 16384 32768 65536 --impl chunked
    python benchmarks/loss.py --dtype bfloat16 --backend torch --batch-sizes 4096

Prints a Markdown table and a line describing the machine. Run it on an idle
machine: with 2 cores, anything running beside it changes its times. Times are
measurements, never assertions.
"""

import argparse
import json
import os
import subprocess
import sys

import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPLEMENTATIONS = ("dense", "chunked", "keras_hub")
# Dense forward+backward holds about this many B x B float32 buffers at its peak
# (logits, their gradient, and the temporaries around them); used only to skip
# batch sizes that cannot fit.
DENSE_BUFFERS = 4


def main():
    arguments = parse_arguments()
    if arguments.worker:
        print(json.dumps(run_worker(arguments)))
        return
    matmul = run_subprocess(arguments, ["--worker", "matmul"])
    rows = []
    for batch_size in arguments.batch_sizes:
        for implementation in arguments.impl:
            rows.append(measure(arguments, implementation, batch_size))
            print_progress(rows[-1])
    print()
    print_table(arguments, rows, matmul)
    print()
    matmul_rate = f"measured float32 matmul {matmul['gflops']:.0f} GFLOP/s ({matmul['shape']})"
    print(common.machine_line(("keras", "keras-hub", arguments.backend), [matmul_rate]))


def parse_arguments():
    from keras_siglip.losses import DEFAULT_CHUNK_SIZE

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[2048, 4096, 8192, 16384, 32768, 65536],
    )
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--impl", nargs="+", choices=IMPLEMENTATIONS, default=list(IMPLEMENTATIONS))
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (median)")
    parser.add_argument("--backend", choices=("jax", "tensorflow", "torch"), default="jax")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    return parser.parse_args()


# --- Parent: one subprocess per measurement -----------------------------------


def measure(arguments, implementation, batch_size):
    row = {"implementation": implementation, "batch_size": batch_size}
    if implementation != "chunked":
        needed = DENSE_BUFFERS * 4 * batch_size**2
        available = common.available_memory_bytes()
        if needed > 0.8 * available:
            row["skipped"] = (
                f"needs ~{needed / 2**30:.0f} GiB for B x B buffers, "
                f"{available / 2**30:.0f} GiB available"
            )
            return row
    result = run_subprocess(arguments, ["--worker", implementation, str(batch_size)])
    row.update(result)
    return row


def run_subprocess(arguments, worker_arguments):
    command = [sys.executable, os.path.abspath(__file__), *worker_arguments]
    command += ["--dim", str(arguments.dim), "--dtype", arguments.dtype]
    command += ["--chunk-size", str(arguments.chunk_size), "--repeats", str(arguments.repeats)]
    command += ["--backend", arguments.backend]
    environment = {
        **os.environ,
        "KERAS_BACKEND": arguments.backend,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        killed = result.returncode < 0 or result.returncode == 137
        reason = "killed (out of memory?)" if killed else "failed"
        return {
            "error": f"{reason}: {result.stderr.strip().splitlines()[-1:] or result.returncode}"
        }
    return json.loads(result.stdout.strip().splitlines()[-1])


def print_progress(row):
    if "seconds" in row:
        detail = f"{row['seconds']:.3f} s, {row['peak_extra_bytes'] / 2**20:.0f} MiB extra"
    else:
        detail = row.get("skipped") or row.get("error")
    print(
        f"  {row['implementation']:>9} B={row['batch_size']}: {detail}", file=sys.stderr, flush=True
    )


def print_table(arguments, rows, matmul):
    flops_per_pair = 6 * arguments.dim
    rate = matmul["gflops"]
    print(
        f"Sigmoid loss forward+backward, D={arguments.dim}, {arguments.dtype}, "
        f"{arguments.backend}, chunk_size={arguments.chunk_size}, median of "
        f"{arguments.repeats}; matmul {rate:.0f} GFLOP/s"
    )
    print()
    print(
        "| B | implementation | median s | min s | peak extra MiB | process peak MiB "
        "| GFLOP/s | % of matmul | time / dense |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    dense_seconds = {
        row["batch_size"]: row["seconds"]
        for row in rows
        if row["implementation"] == "dense" and "seconds" in row
    }
    for row in rows:
        batch_size = row["batch_size"]
        head = f"| {batch_size:,} | {row['implementation']} "
        if "seconds" not in row:
            print(head + f"| {row.get('skipped') or row.get('error')} | | | | | | |")
            continue
        gflops = flops_per_pair * batch_size**2 / row["seconds"] / 1e9
        relative = (
            f"{row['seconds'] / dense_seconds[batch_size]:.2f}x"
            if batch_size in dense_seconds
            else ""
        )
        print(
            head
            + f"| {row['seconds']:.3f} | {row['min_seconds']:.3f} "
            + f"| {row['peak_extra_bytes'] / 2**20:,.0f} "
            + f"| {row['process_peak_bytes'] / 2**20:,.0f} "
            + f"| {gflops:.0f} | {100 * gflops / rate:.0f}% | {relative} |"
        )


# --- Worker: one measurement in this process ----------------------------------


def run_worker(arguments):
    kind = arguments.worker[0]
    if kind == "matmul":
        return measure_matmul(arguments)
    batch_size = int(arguments.worker[1])
    import numpy as np

    rng = np.random.default_rng(0)
    embeddings = []
    for _ in range(2):
        raw = rng.standard_normal((batch_size, arguments.dim), dtype=np.float32)
        embeddings.append(raw / np.linalg.norm(raw, axis=1, keepdims=True))
    function, inputs = build(kind, embeddings, arguments)
    del raw, embeddings
    baseline = common.resident_bytes()
    function(*inputs)
    warm_up_peak = common.peak_resident_bytes()
    common.reset_peak()
    seconds = common.time_calls(lambda: function(*inputs), arguments.repeats, warmup=0)
    return {
        "seconds": common.median(seconds),
        "min_seconds": min(seconds),
        "peak_extra_bytes": max(0, common.peak_resident_bytes() - baseline),
        "process_peak_bytes": max(warm_up_peak, common.peak_resident_bytes()),
    }


def build(kind, embeddings, arguments):
    """`(function, inputs)`: `function(*inputs)` runs forward+backward to completion."""
    import keras
    import numpy as np

    from keras_siglip import losses

    images, texts = (
        keras.ops.cast(keras.ops.convert_to_tensor(a), arguments.dtype) for a in embeddings
    )
    log_temperature = keras.ops.convert_to_tensor(np.float32(np.log(10.0)))
    bias = keras.ops.convert_to_tensor(np.float32(-10.0))

    if kind == "keras_hub":
        from keras_hub.src.models.siglip.siglip_layers import SigLIPHead
        from keras_hub.src.models.siglip.siglip_loss import SigLIPLoss

        head = SigLIPHead(dtype=arguments.dtype)
        head.build((None, arguments.dim))
        paths = [variable.path.split("/")[-1] for variable in head.trainable_variables]
        loss_object = SigLIPLoss()

        def loss(images, texts, log_temperature, bias):
            values = {"logit_scale": log_temperature, "logit_bias": bias}
            (_, text_logits), _ = head.stateless_call(
                [keras.ops.cast(values[path], head.variable_dtype) for path in paths],
                [],
                images,
                texts,
            )
            # As SigLIPBackbone.compute_loss builds its labels.
            size = keras.ops.shape(text_logits)[0]
            eye = keras.ops.eye(size, dtype=text_logits.dtype)
            labels = -keras.ops.ones_like(text_logits) + 2 * eye
            return loss_object(labels, text_logits)

    else:
        chunk_size = arguments.chunk_size if kind == "chunked" else None

        def loss(images, texts, log_temperature, bias):
            return losses.sigmoid_loss(images, texts, log_temperature, bias, chunk_size=chunk_size)

    inputs = (images, texts, log_temperature, bias)
    return forward_backward(loss), inputs


def forward_backward(loss):
    """A function computing `loss` and its four gradients, and waiting for them."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        compiled = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))
        return lambda *inputs: jax.block_until_ready(compiled(*inputs))
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def compiled(*inputs):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                value = loss(*inputs)
            return value, tape.gradient(value, inputs)

        return lambda *inputs: [tensor.numpy() for tensor in tf.nest.flatten(compiled(*inputs))]
    import torch

    def run(*inputs):
        leaves = [tensor.detach().requires_grad_() for tensor in inputs]
        value = loss(*leaves)
        return value.detach(), torch.autograd.grad(value, leaves)

    return run


def measure_matmul(arguments):
    import keras
    import numpy as np

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        product = jax.jit(lambda a, b: a @ b)
        run = lambda a, b: jax.block_until_ready(product(a, b))  # noqa: E731
    elif backend == "tensorflow":
        import tensorflow as tf

        product = tf.function(lambda a, b: a @ b, jit_compile=True)
        run = lambda a, b: product(a, b).numpy()  # noqa: E731
    else:
        run = lambda a, b: a @ b  # noqa: E731
    best = None
    tile = min(arguments.chunk_size, 4096)
    shapes = [(tile, arguments.dim, tile), (4096, arguments.dim, 4096), (2048, 2048, 2048)]
    for rows, inner, columns in shapes:
        a = keras.ops.convert_to_tensor(np.ones((rows, inner), "float32"))
        b = keras.ops.convert_to_tensor(np.ones((inner, columns), "float32"))
        seconds = common.time_calls(lambda: run(a, b), max(arguments.repeats, 5), warmup=1)  # noqa: B023
        gflops = 2 * rows * inner * columns / common.median(seconds) / 1e9
        if best is None or gflops > best["gflops"]:
            best = {"gflops": gflops, "shape": f"{rows}x{inner} @ {inner}x{columns}"}
    return best


if __name__ == "__main__":
    main()
