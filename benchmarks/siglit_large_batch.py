"""SigLiT at a large batch: one gradient-cached training step of a small text tower.

Trains a text tower against cached (random, L2-normalised) image embeddings with
`keras_siglip.training.GradientCachedSigLiT`: the texts are embedded
`micro_batch_size` at a time, the chunked sigmoid loss runs over all `B x B` pairs,
and the embedding gradient is back-propagated one micro-batch at a time. The
default is B = 65,536 with a text tower of width 128, 2 layers, 16 tokens and a
vocabulary of 1,000 (AdamW, SigLIP.compile's default optimizer).

Each micro-batch size runs in a fresh subprocess with `KERAS_BACKEND` set, so that
memory does not mix between runs. In it: the tower, the token ids and the image
embeddings are created and the resident set size (RSS) read (the baseline); one
untimed step compiles and warms up; the kernel's peak-RSS counter is reset; then
`--repeats` timed steps, each waited for until the weights are updated. "Peak extra"
is the peak RSS of the timed steps above the baseline: the step's working memory
(the tower's activations for one micro-batch, the embeddings and their gradients,
the loss's tiles, the gradients and the optimizer's state). "Process peak" is the
whole process's peak RSS (imports and compilation included).

Usage:

    python benchmarks/siglit_large_batch.py
    python benchmarks/siglit_large_batch.py --micro-batch-sizes 1024 8192 --backend torch

Prints a Markdown table and a line describing the machine. Run it on an idle
machine: with 2 cores, anything running beside it changes its times. Times are
measurements, never assertions.
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    arguments = parse_arguments()
    if arguments.worker is not None:
        print(json.dumps(run_worker(arguments, arguments.worker)))
        return
    rows = []
    for micro_batch_size in arguments.micro_batch_sizes:
        rows.append(run_subprocess(arguments, micro_batch_size))
        print(f"  micro-batch {micro_batch_size}: {rows[-1]}", file=sys.stderr, flush=True)
    print()
    print_table(arguments, rows)
    print()
    print(common.machine_line(("keras", arguments.backend)))


def parse_arguments():
    sys.path.insert(0, ROOT)
    from keras_siglip.losses import DEFAULT_CHUNK_SIZE

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=65536)
    parser.add_argument("--micro-batch-sizes", type=int, nargs="+", default=[4096])
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--num-heads", type=int, default=2)
    parser.add_argument("--intermediate-dim", type=int, default=512)
    parser.add_argument("--sequence-length", type=int, default=16)
    parser.add_argument("--vocabulary-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps (median)")
    parser.add_argument("--backend", choices=("jax", "tensorflow", "torch"), default="jax")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


# --- Parent: one subprocess per micro-batch size --------------------------------


def run_subprocess(arguments, micro_batch_size):
    command = [sys.executable, os.path.abspath(__file__), *sys.argv[1:]]
    command += ["--worker", str(micro_batch_size), "--backend", arguments.backend]
    environment = {
        **os.environ,
        "KERAS_BACKEND": arguments.backend,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    row = {"micro_batch_size": micro_batch_size}
    if result.returncode != 0:
        killed = result.returncode < 0 or result.returncode == 137
        reason = "killed (out of memory?)" if killed else "failed"
        row["error"] = f"{reason}: {result.stderr.strip().splitlines()[-1:] or result.returncode}"
        return row
    row.update(json.loads(result.stdout.strip().splitlines()[-1]))
    return row


def print_table(arguments, rows):
    parameters = rows[0].get("parameters") if rows else None
    print(
        f"SigLiT gradient-cached step, B={arguments.batch_size:,}, text tower width "
        f"{arguments.hidden_dim}, {arguments.num_layers} layers, {arguments.num_heads} heads, "
        f"MLP {arguments.intermediate_dim}, {arguments.sequence_length} tokens, vocabulary "
        f"{arguments.vocabulary_size:,} ({parameters:,} parameters), cached image embeddings "
        f"of dim {arguments.hidden_dim}, chunk_size={arguments.chunk_size}, AdamW, float32, "
        f"{arguments.backend}, median of {arguments.repeats} steps"
        if parameters
        else f"SigLiT gradient-cached step, B={arguments.batch_size:,}, {arguments.backend}"
    )
    print()
    print(
        "| B | micro-batch | median s / step | min s | pairs / s | loss | peak extra MiB "
        "| process peak MiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        head = f"| {arguments.batch_size:,} | {row['micro_batch_size']:,} "
        if "error" in row:
            print(head + f"| {row['error']} | | | | | |")
            continue
        pairs = arguments.batch_size**2 / row["seconds"]
        print(
            head
            + f"| {row['seconds']:.1f} | {row['min_seconds']:.1f} | {pairs / 1e6:,.0f} M "
            + f"| {row['first_loss']:.3f} -> {row['last_loss']:.3f} "
            + f"| {row['peak_extra_bytes'] / 2**20:,.0f} "
            + f"| {row['process_peak_bytes'] / 2**20:,.0f} |"
        )


# --- Worker: one micro-batch size in this process -------------------------------


def run_worker(arguments, micro_batch_size):
    import keras
    import numpy as np

    from keras_siglip import TextEncoder
    from keras_siglip.training import GradientCachedSigLiT

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    batch_size = arguments.batch_size
    token_ids = rng.integers(
        0, arguments.vocabulary_size, size=(batch_size, arguments.sequence_length)
    ).astype("int32")
    image_embeddings = rng.standard_normal((batch_size, arguments.hidden_dim), dtype=np.float32)
    image_embeddings /= np.linalg.norm(image_embeddings, axis=1, keepdims=True)
    text_encoder = TextEncoder(
        vocabulary_size=arguments.vocabulary_size,
        sequence_length=arguments.sequence_length,
        hidden_dim=arguments.hidden_dim,
        num_layers=arguments.num_layers,
        num_heads=arguments.num_heads,
        intermediate_dim=arguments.intermediate_dim,
    )
    trainer = GradientCachedSigLiT(
        text_encoder, micro_batch_size=micro_batch_size, chunk_size=arguments.chunk_size
    )

    def step():
        loss = trainer.train_on_batch(token_ids, image_embeddings)
        # Wait for the optimizer's update too (JAX dispatches it asynchronously).
        keras.ops.convert_to_numpy(trainer.bias)
        return loss

    baseline = common.resident_bytes()
    losses = [step()]
    warm_up_peak = common.peak_resident_bytes()
    common.reset_peak()
    seconds = common.time_calls(lambda: losses.append(step()), arguments.repeats, warmup=0)
    return {
        "seconds": common.median(seconds),
        "min_seconds": min(seconds),
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "peak_extra_bytes": max(0, common.peak_resident_bytes() - baseline),
        "process_peak_bytes": max(warm_up_peak, common.peak_resident_bytes()),
        "parameters": text_encoder.count_params(),
    }


if __name__ == "__main__":
    main()
