"""Train-step time and peak memory: keras_siglip vs keras-hub vs transformers.

One training step is a forward pass of both towers, the sigmoid loss, the
backward pass and an AdamW update, on one fixed random batch. Three
implementations of the same architecture are timed:

- `ours`: `keras_siglip.SigLIP.from_variant(...)` compiled with the package's
  AdamW (`keras_siglip.optimizers.AdamW`, what `compile()` uses by default: Keras'
  AdamW with a fused update kernel on PyTorch), on the Keras backend given by
  `--backend`.
- `ours_keras_adamw`: the same model compiled with Keras' own AdamW, to separate
  the model's speed from the optimizer's.
- `keras_hub`: `keras_hub.models.SigLIPBackbone` with the same sizes, compiled
  with its default loss (`SigLIPLoss`, applied by `SigLIPBackbone.compute_loss`,
  which calls the model a second time) and the same AdamW, on the same Keras
  backend.
- `keras_hub_xla` (TensorFlow only): the same keras-hub model compiled with
  `jit_compile=True`. Keras' default `jit_compile="auto"` turns XLA off for
  TensorFlow on a machine without an accelerator, so the `keras_hub` row there
  is TensorFlow's graph with its own kernels; this row shows keras-hub under
  the XLA that `SigLIP.compile()` chooses on TensorFlow.
- `transformers`: `transformers.SiglipModel(SiglipConfig(...))` on PyTorch (CPU,
  its default SDPA attention), `return_loss=True` for its sigmoid loss,
  `torch.optim.AdamW`. It does not use Keras, so it runs once per configuration
  whatever `--backend` says.

The optimizer is AdamW with learning rate 1e-3 and weight decay 1e-4 everywhere
(keras-hub's default), without gradient clipping. The Keras models train with
one `fit` call over the batch repeated `warmup + steps` times (`fit` keeps the
weights in the compiled step's state between steps; `train_on_batch` copies
them back into the Keras variables after every step, which costs about two
seconds per B/16 step on JAX); a callback times each step and reads its loss, so
that asynchronous dispatch cannot hide work. `compile` keeps its default
`jit_compile="auto"`: XLA on JAX, eager on torch; on TensorFlow, Keras' "auto"
means XLA only on an accelerator (graph mode with TensorFlow's kernels on a
CPU), while `SigLIP.compile()` resolves it to XLA on every device. The first
`warmup` steps (compilation included) are not timed.

Each (configuration, implementation, backend) runs in a fresh subprocess, with
`KERAS_BACKEND` set before Keras is imported, so that peak memory (the
process's peak resident set size, `ru_maxrss`) does not mix between runs. The
peak includes the libraries imported and the compilation; the "import RSS"
column is the peak right after the imports (keras-hub imports TensorFlow and
TensorFlow Text on every backend).

Configurations:

- `b16`: B/16, 224 px images, 64 text tokens, 32,000-token vocabulary, batch 8.
- `small`: keras_siglip's Nano/8 (width 128, MLP 512, 4 heads, 4 image and
  2 text layers), 32 px images, 16 text tokens, 1,000-token vocabulary,
  batch 64.

The parameter counts of the three implementations are printed and compared:
keras-hub's count includes its non-trainable integer `position_ids` (one per
text position and one per patch), so it is a few hundred above the others.

Usage:

    python benchmarks/train_step.py --config small --impl all --backend all
    python benchmarks/train_step.py --config b16 --impl ours --backend jax \\
        --steps 5 --warmup 2
    python benchmarks/train_step.py --config b16 --impl ours transformers \\
        --backend torch --rounds 3

`--impl` and `--backend` take several values. `--rounds N` runs every combination
N times, interleaved (A B C, A B C, ...), each time in a fresh process: on this
2-core virtual machine the same code measured in two processes minutes apart can
differ by 10-25%, so comparisons near a target need several rounds.

The script prints a Markdown table (median and minimum seconds per timed step,
peak RSS) and a line describing the machine, with its load average: on a shared
machine, compare rows measured under the same load. Times are measurements,
never assertions.

Each row also says how close the step comes to the machine's arithmetic limit:
`step_flops` counts the floating-point operations of a step from the
configuration (every matrix product of the forward pass, times three for the
forward and the two backward products, less the patch embedding's input gradient,
which no implementation computes); each worker then measures its own framework's
float32 matrix-product rate (`matmul_rate`: 2048 x 2048 products, the median of
10) right after its timed steps. A step that runs at the matmul rate cannot be
made faster without doing less arithmetic.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import common

# The sizes are spelled out for keras-hub and transformers; `variant` names the
# same sizes in keras_siglip (the parameter-count check catches a mismatch).
CONFIGS = {
    "b16": {
        "variant": "B/16",
        "image_size": 224,
        "patch_size": 16,
        "hidden_dim": 768,
        "intermediate_dim": 3072,
        "num_heads": 12,
        "image_num_layers": 12,
        "text_num_layers": 12,
        "sequence_length": 64,
        "vocabulary_size": 32000,
        "batch_size": 8,
    },
    "small": {
        "variant": "Nano/8",
        "image_size": 32,
        "patch_size": 8,
        "hidden_dim": 128,
        "intermediate_dim": 512,
        "num_heads": 4,
        "image_num_layers": 4,
        "text_num_layers": 2,
        "sequence_length": 16,
        "vocabulary_size": 1000,
        "batch_size": 64,
    },
}
IMPLEMENTATIONS = ("ours", "ours_keras_adamw", "keras_hub", "keras_hub_xla", "transformers")
# Implementations measured on one backend only, whatever `--backend` says.
BACKEND_ONLY = {"keras_hub_xla": "tensorflow"}
KERAS_BACKENDS = ("jax", "tensorflow", "torch")
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-4
RESULT_PREFIX = "TRAIN_STEP_RESULT "
MATMUL_SIZE = 2048
LIBRARIES = ("numpy", "keras", "keras-hub", "jax", "tensorflow", "torch", "transformers")


def step_flops(config):
    """Floating-point operations of one train step of `config`, counted by hand.

    The multiply-adds of every matrix product in the forward pass: per image, the
    patch embedding, the encoder blocks (four width x width projections and two MLP
    products per token, and the two attention products) and the attention-pooling
    head; per text, the encoder blocks and the head. A multiply-add is two
    operations; the backward pass does two products for each forward one (the input
    and the weight gradient), except the patch embedding, whose input (the images)
    needs no gradient. Elementwise work, the loss (`B^2 D`) and the optimizer are left
    out: they are below 1% of a B/16 step (XLA's own count for the whole B/16 step,
    1,128 GFLOP, is 1.4% above this one; `matmul_floor.py` lists the same products
    with their shapes, and a test checks that the two counts agree).
    """
    width, mlp = config["hidden_dim"], config["intermediate_dim"]
    patches = (config["image_size"] // config["patch_size"]) ** 2
    tokens = config["sequence_length"]

    def block(length):
        return length * (4 * width * width + 2 * width * mlp + 2 * length * width)

    patch_embedding = patches * config["patch_size"] ** 2 * 3 * width
    # The head: the probe's query, keys and values of every patch, attention, the
    # output projection and the MLP of the one pooled token.
    pooling_head = (
        width * width
        + 2 * patches * width * width
        + 2 * patches * width
        + width * width
        + 2 * width * mlp
    )
    image = patch_embedding + config["image_num_layers"] * block(patches) + pooling_head
    text = config["text_num_layers"] * block(tokens) + width * width
    forward = config["batch_size"] * (image + text)
    return 2 * (3 * forward - config["batch_size"] * patch_embedding)


def matmul_rate(implementation):
    """The float32 matrix-product rate, in GFLOP/s, of the framework a worker uses."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((MATMUL_SIZE, MATMUL_SIZE)).astype("float32") for _ in range(2))
    if implementation == "transformers":
        import torch

        a, b = torch.from_numpy(a), torch.from_numpy(b)

        def product():
            return float(torch.matmul(a, b)[0, 0])
    else:
        from keras import ops

        a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)

        def product():
            # Reading one element waits for the product on every backend.
            return float(ops.convert_to_numpy(ops.matmul(a, b)[0, 0]))

    times = common.time_calls(product, runs=10, warmup=3)
    return 2 * MATMUL_SIZE**3 / common.median(times) / 1e9


# --- Building the models (inside the worker subprocess) ------------------------


def random_batch(config):
    """The fixed batch every implementation trains on: images in [-1, 1], token ids."""
    import numpy as np

    rng = np.random.default_rng(0)
    size, batch = config["image_size"], config["batch_size"]
    images = rng.uniform(-1.0, 1.0, (batch, size, size, 3)).astype("float32")
    token_ids = rng.integers(
        0, config["vocabulary_size"], (batch, config["sequence_length"])
    ).astype("int32")
    return images, token_ids


def keras_optimizer(fused=False):
    """AdamW at the shared settings: Keras' own, or keras_siglip's (`fused=True`).

    `keras_siglip.optimizers.AdamW` is the optimizer `SigLIP.compile()` uses by
    default: Keras' AdamW with the same maths and state, whose update on PyTorch
    is one fused kernel (on JAX and TensorFlow it is Keras' AdamW unchanged).
    """
    import keras

    if fused:
        from keras_siglip.optimizers import AdamW
    else:
        AdamW = keras.optimizers.AdamW
    return AdamW(learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY)


def keras_step_timer(model, config):
    """`run(num_steps)`: train `model` with `fit`, return the time of each step.

    `fit` rather than `train_on_batch`: between steps `fit` keeps the weights in
    the compiled step's state, while `train_on_batch` writes them back to the
    Keras variables after every step, which adds seconds per B/16 step on JAX.
    The same batch is repeated `num_steps` times.
    """
    import keras
    import numpy as np

    images, token_ids = random_batch(config)

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            # Reading the loss waits for the step to finish on every backend.
            float(logs["loss"])
            self.times.append(time.perf_counter() - self.start)

    def run(num_steps):
        timer = StepTimer()
        model.fit(
            {
                "images": np.concatenate([images] * num_steps),
                "token_ids": np.concatenate([token_ids] * num_steps),
            },
            batch_size=config["batch_size"],
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=[timer],
        )
        return timer.times

    return run


def build_ours(config, fused_optimizer=True):
    """`(run, num_params)` for keras_siglip's `SigLIP`."""
    import keras_siglip

    model = keras_siglip.SigLIP.from_variant(
        config["variant"],
        image_size=config["image_size"],
        sequence_length=config["sequence_length"],
        vocabulary_size=config["vocabulary_size"],
    )
    model.compile(optimizer=keras_optimizer(fused=fused_optimizer))
    return keras_step_timer(model, config), model.count_params()


def build_keras_hub(config, jit_compile="auto"):
    """`(run, num_params)` for keras-hub's `SigLIPBackbone` and `SigLIPLoss`."""
    import keras_hub

    sizes = {
        "hidden_dim": config["hidden_dim"],
        "intermediate_dim": config["intermediate_dim"],
        "num_heads": config["num_heads"],
    }
    size = config["image_size"]
    vision_encoder = keras_hub.models.SigLIPVisionEncoder(
        patch_size=config["patch_size"],
        num_layers=config["image_num_layers"],
        image_shape=(size, size, 3),
        **sizes,
    )
    text_encoder = keras_hub.models.SigLIPTextEncoder(
        vocabulary_size=config["vocabulary_size"],
        embedding_dim=config["hidden_dim"],
        num_layers=config["text_num_layers"],
        max_sequence_length=config["sequence_length"],
        **sizes,
    )
    model = keras_hub.models.SigLIPBackbone(vision_encoder, text_encoder)
    # The default loss is `SigLIPLoss`, applied by `SigLIPBackbone.compute_loss`.
    model.compile(optimizer=keras_optimizer(), jit_compile=jit_compile)
    return keras_step_timer(model, config), model.count_params()


def build_transformers(config):
    """`(run, num_params)` for transformers' `SiglipModel` on PyTorch."""
    import torch
    from transformers import SiglipConfig, SiglipModel

    sizes = {
        "hidden_size": config["hidden_dim"],
        "intermediate_size": config["intermediate_dim"],
        "num_attention_heads": config["num_heads"],
    }
    siglip_config = SiglipConfig(
        text_config={
            "vocab_size": config["vocabulary_size"],
            "max_position_embeddings": config["sequence_length"],
            "num_hidden_layers": config["text_num_layers"],
            **sizes,
        },
        vision_config={
            "image_size": config["image_size"],
            "patch_size": config["patch_size"],
            "num_hidden_layers": config["image_num_layers"],
            **sizes,
        },
    )
    torch.manual_seed(0)
    model = SiglipModel(siglip_config)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    images, token_ids = random_batch(config)
    pixel_values = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    input_ids = torch.from_numpy(token_ids).long()

    def run(num_steps):
        times = []
        for _ in range(num_steps):
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = model(input_ids=input_ids, pixel_values=pixel_values, return_loss=True).loss
            loss.backward()
            optimizer.step()
            loss.item()
            times.append(time.perf_counter() - start)
        return times

    num_params = sum(parameter.numel() for parameter in model.parameters())
    return run, num_params


BUILDERS = {
    "ours": build_ours,
    "ours_keras_adamw": lambda config: build_ours(config, fused_optimizer=False),
    "keras_hub": build_keras_hub,
    "keras_hub_xla": lambda config: build_keras_hub(config, jit_compile=True),
    "transformers": build_transformers,
}


def measure(config_name, implementation, steps, warmup):
    """Run in the worker: time `steps` train steps after `warmup` untimed ones."""
    if implementation == "transformers":
        import torch  # noqa: F401
        import transformers  # noqa: F401
    else:
        import keras  # noqa: F401

        if implementation.startswith("keras_hub"):
            import keras_hub  # noqa: F401
        else:
            import keras_siglip  # noqa: F401
    import_rss = common.peak_rss_gib()

    run, num_params = BUILDERS[implementation](CONFIGS[config_name])
    times = run(warmup + steps)[warmup:]
    return {
        "params": num_params,
        "times": times,
        "matmul_gflops": matmul_rate(implementation),
        "import_rss_gb": import_rss,
        "peak_rss_gb": common.peak_rss_gib(),
    }


# --- Driving the workers (in the parent process) --------------------------------


def run_worker(config_name, implementation, backend, steps, warmup):
    """Measure one combination in a fresh Python process; a dict with the result."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if backend in KERAS_BACKENDS:
        env["KERAS_BACKEND"] = backend
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        json.dumps([config_name, implementation, steps, warmup]),
    ]
    process = subprocess.run(command, env=env, capture_output=True, text=True)
    for line in process.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    output = (process.stdout + process.stderr).strip().splitlines()
    return {"error": f"exit code {process.returncode}", "output": output[-15:]}


def combinations(config_names, implementations, backends):
    """(config, implementation, backend) triples; transformers runs once, on torch."""
    for config_name in config_names:
        for implementation in implementations:
            if implementation == "transformers":
                yield config_name, implementation, "torch (native)"
            elif implementation in BACKEND_ONLY:
                if BACKEND_ONLY[implementation] in backends:
                    yield config_name, implementation, BACKEND_ONLY[implementation]
            else:
                for backend in backends:
                    yield config_name, implementation, backend


def merge_round(previous, result):
    """Pool a round's result into the earlier rounds' (times, each round's median, peaks)."""
    if "error" in result:
        return result
    result["round_medians"] = [statistics.median(result["times"])]
    result["matmul_gflops"] = [result["matmul_gflops"]]
    if previous is None or "error" in previous:
        return result if previous is None else previous
    return {
        "params": previous["params"],
        "times": previous["times"] + result["times"],
        "round_medians": previous["round_medians"] + result["round_medians"],
        "matmul_gflops": previous["matmul_gflops"] + result["matmul_gflops"],
        "import_rss_gb": max(previous["import_rss_gb"], result["import_rss_gb"]),
        "peak_rss_gb": max(previous["peak_rss_gb"], result["peak_rss_gb"]),
    }


def format_row(config_name, implementation, backend, result):
    config = CONFIGS[config_name]
    label = f"{config_name} ({config['variant']}, batch {config['batch_size']})"
    if "error" in result:
        return f"| {label} | {implementation} | {backend} | failed | | | | | | | |"
    times = result["times"]
    rounds = ", ".join(f"{median:.3f}" for median in result["round_medians"])
    step_gflops = step_flops(config) / 1e9 / statistics.median(times)
    matmul = statistics.median(result["matmul_gflops"])
    return (
        f"| {label} | {implementation} | {backend} | {result['params']:,} "
        f"| {statistics.median(times):.4f} | {min(times):.4f} | {rounds} "
        f"| {step_gflops:.0f} | {matmul:.0f} ({100 * step_gflops / matmul:.0f}%) "
        f"| {result['peak_rss_gb']:.2f} | {result['import_rss_gb']:.2f} |"
    )


def parameter_check(config_name, results):
    """One line comparing the parameter counts of the implementations measured."""
    counts = {}
    for (name, implementation, _), result in results.items():
        if name == config_name and "params" in result:
            counts.setdefault(implementation, result["params"])
    if not counts:
        return None
    reference_name = "ours" if "ours" in counts else next(iter(counts))
    reference = counts[reference_name]
    parts = [f"{reference_name} {reference:,}"]
    for implementation, count in counts.items():
        if implementation != reference_name:
            parts.append(f"{implementation} {count:,} ({count - reference:+,})")
    return f"Parameters, {config_name}: " + ", ".join(parts)


def expand(choices, everything):
    return list(everything) if "all" in choices else list(dict.fromkeys(choices))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train-step time and peak RSS of three SigLIP implementations."
    )
    parser.add_argument("--config", choices=[*CONFIGS, "all"], default="small")
    parser.add_argument("--impl", choices=[*IMPLEMENTATIONS, "all"], nargs="+", default=["all"])
    parser.add_argument("--backend", choices=[*KERAS_BACKENDS, "all"], nargs="+", default=["all"])
    parser.add_argument("--steps", type=int, default=5, help="timed steps (>= 1)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="untimed steps before them, compilation included",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs of every combination, interleaved (each in a fresh process); "
        "the table gives the median over all rounds' timed steps and each round's median",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}.")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}.")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}.")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        config_name, implementation, steps, warmup = json.loads(args.worker)
        result = measure(config_name, implementation, steps, warmup)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return

    config_names = expand([args.config], CONFIGS)
    keys = list(
        combinations(
            config_names,
            expand(args.impl, IMPLEMENTATIONS),
            expand(args.backend, KERAS_BACKENDS),
        )
    )
    # Rounds interleave the combinations (A B C, A B C, ...), so that a slow spell
    # of a shared machine, or one process's unlucky placement, does not fall on
    # one implementation only.
    results = {}
    for round_index in range(args.rounds):
        for key in keys:
            print(
                f"round {round_index + 1}/{args.rounds}: running {' / '.join(key)} ...",
                file=sys.stderr,
                flush=True,
            )
            results[key] = merge_round(results.get(key), run_worker(*key, args.steps, args.warmup))

    print(
        f"\nTrain step (forward, backward, AdamW update): {args.warmup} warm-up "
        f"steps, then {args.steps} timed, in each of {args.rounds} round(s). "
        + ", ".join(
            f"{name}: {step_flops(CONFIGS[name]) / 1e9:,.1f} GFLOP per step"
            for name in config_names
        )
        + ".\n"
    )
    print(
        "| config | implementation | backend | params | median s/step | min s/step "
        "| each round's median | step GFLOP/s | matmul GFLOP/s (step's share) "
        "| peak RSS GB | import RSS GB |"
    )
    print("|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for key, result in results.items():
        print(format_row(*key, result))
    print()
    for config_name in config_names:
        line = parameter_check(config_name, results)
        if line:
            print(line)
    print(common.machine_line(LIBRARIES))
    for key, result in results.items():
        if "error" in result:
            print(f"\n{' / '.join(key)} failed ({result['error']}):")
            print("\n".join("    " + line for line in result["output"]))


if __name__ == "__main__":
    main()
