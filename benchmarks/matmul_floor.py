"""The matrix products of one SigLIP train step, alone: how long they take.

`train_step.py` times whole steps. This script times only the matrix products
that any implementation of the same step must do, with the same shapes: every
product of the forward pass (`y = x @ w`) and the two of its backward pass (the
input gradient `dy @ w^T` and the weight gradient `x^T @ dy`), for the patch
embedding (no input gradient: images need none), the projections and MLPs of
every encoder block, the two attention products per block (both operands are
activations, so both get gradients) and the attention-pooling and text heads.
Nothing else: no normalisation, activation, softmax, residual addition, loss or
optimizer update. The operands are random tensors; each product reads its own, so
no framework can skip or merge work that a real step does.

Where the products are compute-bound (B/16: every operand is megabytes, in a
real step as here), a train step cannot be faster than this on the same framework
and machine unless it does less arithmetic, so the time shows how much room is
left above it: a goal such as "1.25x faster than keras-hub" is out of reach when
keras-hub's step divided by 1.25 is below (or close to) it. It is not a floor for
small configurations: there a real step's activations are still in cache when the
next product reads them, while here every product reads operands of its own, and
the small step measured by `train_step.py` can be faster than its products here.

Each framework runs in a fresh subprocess:

- `jax`: one `jax.jit` function returning every product.
- `tensorflow-xla`: the same in one `tf.function(jit_compile=True)`.
- `tensorflow-graph`: `tf.function` without XLA (TensorFlow's own kernels), what
  Keras' `fit` runs on a CPU-only machine unless `jit_compile=True`.
- `torch`: eager PyTorch.

Usage:

    python benchmarks/matmul_floor.py --config b16 --runs 5
    python benchmarks/matmul_floor.py --config small --frameworks jax torch

The configurations are `train_step.py`'s. Prints a Markdown table (median and
minimum over `--runs` timed calls after two warm-up calls) and the machine.
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from train_step import CONFIGS, LIBRARIES, step_flops  # noqa: E402

FRAMEWORKS = ("jax", "tensorflow-xla", "tensorflow-graph", "torch")
RESULT_PREFIX = "MATMUL_FLOOR_RESULT "


def products(config):
    """`(batch_shape, m, k, n, input_gradient)` for each forward product of a step.

    `batch_shape` is `()` for a weight product and `(batch * heads,)` for an
    attention product, whose second operand is an activation as well.
    """
    batch = config["batch_size"]
    width, mlp, heads = config["hidden_dim"], config["intermediate_dim"], config["num_heads"]
    head_width = width // heads
    patches = (config["image_size"] // config["patch_size"]) ** 2
    tokens = config["sequence_length"]
    result = [((), batch * patches, config["patch_size"] ** 2 * 3, width, False)]

    def block(length):
        rows = batch * length
        return [((), rows, width, width, True)] * 4 + [
            ((), rows, width, mlp, True),
            ((), rows, mlp, width, True),
            ((batch * heads,), length, head_width, length, True),
            ((batch * heads,), length, length, head_width, True),
        ]

    result += config["image_num_layers"] * block(patches)
    # Attention pooling: the probe's query (one row), keys and values of every
    # patch, one query's attention, the output projection and the MLP.
    result += [
        ((), 1, width, width, True),
        ((), batch * patches, width, width, True),
        ((), batch * patches, width, width, True),
        ((batch * heads,), 1, head_width, patches, True),
        ((batch * heads,), 1, patches, head_width, True),
        ((), batch, width, width, True),
        ((), batch, width, mlp, True),
        ((), batch, mlp, width, True),
    ]
    result += config["text_num_layers"] * block(tokens)
    result += [((), batch, width, width, True)]
    return result


def counted_flops(config):
    """Operations of `products(config)`: forward, weight and input gradients."""
    total = 0
    for batch_shape, m, k, n, input_gradient in products(config):
        count = 2 * m * k * n
        for size in batch_shape:
            count *= size
        total += count * (3 if input_gradient else 2)
    return total


def operands(config, seed=0):
    """Random `(x, w, dy)` float32 NumPy arrays for every product."""
    import numpy as np

    rng = np.random.default_rng(seed)
    result = []
    for batch_shape, m, k, n, input_gradient in products(config):
        x = rng.standard_normal((*batch_shape, m, k), dtype="float32")
        w = rng.standard_normal((*batch_shape, k, n), dtype="float32")
        dy = rng.standard_normal((*batch_shape, m, n), dtype="float32")
        result.append((x, w, dy, input_gradient))
    return result


def jax_step(arrays):
    import jax
    import jax.numpy as jnp

    flags = [input_gradient for *_, input_gradient in arrays]

    @jax.jit
    def step(tensors):
        outputs = []
        for (x, w, dy), input_gradient in zip(tensors, flags):
            outputs.append(x @ w)
            outputs.append(jnp.swapaxes(x, -1, -2) @ dy)
            if input_gradient:
                outputs.append(dy @ jnp.swapaxes(w, -1, -2))
        return outputs

    tensors = [tuple(jnp.asarray(a) for a in (x, w, dy)) for x, w, dy, _ in arrays]
    return lambda: jax.block_until_ready(step(tensors))


def tensorflow_step(arrays, jit_compile):
    import tensorflow as tf

    flags = [input_gradient for *_, input_gradient in arrays]

    @tf.function(jit_compile=jit_compile)
    def step(tensors):
        outputs = []
        for (x, w, dy), input_gradient in zip(tensors, flags):
            outputs.append(tf.matmul(x, w))
            outputs.append(tf.matmul(x, dy, transpose_a=True))
            if input_gradient:
                outputs.append(tf.matmul(dy, w, transpose_b=True))
        return outputs

    tensors = [tuple(tf.constant(a) for a in (x, w, dy)) for x, w, dy, _ in arrays]
    # Reading one element of every output waits for all of them.
    return lambda: [float(tf.reshape(y, [-1])[0]) for y in step(tensors)]


def torch_step(arrays):
    import torch

    tensors = [tuple(torch.from_numpy(a) for a in (x, w, dy)) + (g,) for x, w, dy, g in arrays]

    def step():
        with torch.no_grad():
            for x, w, dy, input_gradient in tensors:
                x @ w
                x.transpose(-1, -2) @ dy
                if input_gradient:
                    dy @ w.transpose(-1, -2)

    return step


def measure(config_name, framework, runs):
    """In the worker: the median and minimum seconds of `runs` timed calls."""
    arrays = operands(CONFIGS[config_name])
    if framework == "jax":
        step = jax_step(arrays)
    elif framework.startswith("tensorflow"):
        step = tensorflow_step(arrays, jit_compile=framework == "tensorflow-xla")
    else:
        step = torch_step(arrays)
    times = common.time_calls(step, runs, warmup=2)
    return {"median": common.median(times), "min": min(times)}


def run_worker(config_name, framework, runs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        json.dumps([config_name, framework, runs]),
    ]
    process = subprocess.run(command, env=env, capture_output=True, text=True)
    for line in process.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = (process.stdout + process.stderr).strip().splitlines()[-10:]
    return {"error": f"exit code {process.returncode}", "output": tail}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=[*CONFIGS, "all"], default="b16")
    parser.add_argument("--frameworks", choices=FRAMEWORKS, nargs="+", default=list(FRAMEWORKS))
    parser.add_argument("--runs", type=int, default=5, help="timed calls (>= 1)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        config_name, framework, runs = json.loads(args.worker)
        print(RESULT_PREFIX + json.dumps(measure(config_name, framework, runs)), flush=True)
        return
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}.")
    config_names = list(CONFIGS) if args.config == "all" else [args.config]
    print("| config | framework | products GFLOP | median s | min s | GFLOP/s |")
    print("|---|---|---:|---:|---:|---:|")
    failures = []
    for config_name in config_names:
        flops = counted_flops(CONFIGS[config_name])
        for framework in args.frameworks:
            result = run_worker(config_name, framework, args.runs)
            if "error" in result:
                failures.append((config_name, framework, result))
                print(f"| {config_name} | {framework} | {flops / 1e9:,.1f} | failed | | |")
                continue
            print(
                f"| {config_name} | {framework} | {flops / 1e9:,.1f} | {result['median']:.4f} "
                f"| {result['min']:.4f} | {flops / 1e9 / result['median']:.0f} |",
                flush=True,
            )
        print(
            f"\n{config_name}: train_step.py's step_flops "
            f"{step_flops(CONFIGS[config_name]) / 1e9:,.1f} GFLOP "
            f"(the products above, counted the same way: {flops / 1e9:,.1f})."
        )
    print(common.machine_line(LIBRARIES))
    for config_name, framework, result in failures:
        print(f"\n{config_name} / {framework} failed ({result['error']}):")
        print("\n".join("    " + line for line in result["output"]))


if __name__ == "__main__":
    main()
