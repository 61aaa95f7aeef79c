"""Inference throughput: images per second from JPEG files to embeddings.

The files: `--images` JPEG photos (quality 90, random crops of scikit-learn's two
sample photographs, each side drawn from `--min-side` to `--max-side` px, so that
every file needs a real resize), written once to a temporary folder and read by every
implementation in the same run.

- `ours`: `keras_siglip.Embedder.embed_images(paths)` on a `SigLIP.from_variant`
  model with random weights: decode and squash-resize (`load_images`: Pillow decode,
  antialiased bicubic resize, scale to [-1, 1]) then the image tower, compiled, on
  batches of `--batch-size`. Run once per Keras backend in `--backend`, each in a
  fresh subprocess.
- `transformers`: `SiglipModel(SiglipConfig(...))` of the same sizes (random weights,
  nothing downloaded) with `SiglipImageProcessor`: `PIL.Image.open(...).convert("RGB")`,
  the processor (bicubic resize, rescale, normalise), `get_image_features` under
  `torch.inference_mode()`, L2 normalisation; PyTorch (CPU), in its own subprocess.

Each implementation first embeds one batch untimed (compilation), then embeds all the
files `--rounds` times; the table gives the median images per second over the rounds.
A per-stage pass then times the two stages apart over all the files: decode + resize
(to a model-ready batch) and encode (the tower on batches already in memory).

    python benchmarks/inference.py                        # B/16 at 224 px, 64 files
    python benchmarks/inference.py --backend jax --impl ours
    python benchmarks/inference.py --quick                # Pico/8 at 32 px, 8 files

Prints a Markdown table and a line describing the machine with its load average.
Times are measurements, never assertions.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

KERAS_BACKENDS = ("jax", "tensorflow", "torch")
IMPLEMENTATIONS = ("ours", "transformers")
LIBRARIES = ("keras", "jax", "tensorflow", "torch", "transformers", "pillow")
RESULT_PREFIX = "RESULT "
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The text tower is built too (both libraries build whole models); only its sizes matter.
SEQUENCE_LENGTH, VOCABULARY_SIZE = 64, 32000
CAPTIONS = [
    f"a {size} {animal} on the {place}"
    for size in ("big", "small")
    for animal in ("cat", "dog", "fox")
    for place in ("grass", "road")
]
QUICK = {"variant": "Pico/8", "image_size": 32, "images": 8, "batch_size": 4, "rounds": 1}


# --- The files -----------------------------------------------------------------------


def write_photos(folder, count, min_side, max_side, seed=0):
    """`count` JPEG files of random crops of scikit-learn's sample photos; their paths."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    sources = load_sample_images().images
    paths = []
    for index in range(count):
        source = sources[index % len(sources)]
        height, width = (int(rng.integers(min_side, max_side + 1)) for _ in range(2))
        side_y, side_x = min(height * 2, source.shape[0]), min(width * 2, source.shape[1])
        top = int(rng.integers(0, source.shape[0] - side_y + 1))
        left = int(rng.integers(0, source.shape[1] - side_x + 1))
        crop = Image.fromarray(source[top : top + side_y, left : left + side_x])
        path = os.path.join(folder, f"photo_{index:04d}.jpg")
        crop.resize((width, height), Image.BICUBIC).save(path, quality=90)
        paths.append(path)
    return paths


def batches(items, size):
    return [items[start : start + size] for start in range(0, len(items), size)]


# --- The workers (each in its own subprocess) ----------------------------------------


def ours(paths, variant, image_size, batch_size):
    """Three callables: the whole path, decode + resize only, encode only."""
    from keras_siglip import Embedder, SigLIP, SigLIPPreprocessor, SigLIPTokenizer
    from keras_siglip.evaluation.embedding import compiled_encoder, embed_in_batches
    from keras_siglip.preprocessing import load_images, train_sentencepiece

    model = SigLIP.from_variant(
        variant,
        image_size=image_size,
        sequence_length=SEQUENCE_LENGTH,
        vocabulary_size=VOCABULARY_SIZE,
    )
    # Only images are embedded: any tokenizer of the right length will do.
    tokenizer = SigLIPTokenizer(train_sentencepiece(CAPTIONS, 22), sequence_length=SEQUENCE_LENGTH)
    embedder = Embedder(
        model, SigLIPPreprocessor(tokenizer, image_size=image_size), batch_size=batch_size
    )
    encode = compiled_encoder(model.image_encoder)

    def whole(subset):
        return embedder.embed_images(subset)

    def decode(subset):
        return [load_images(batch, image_size) for batch in batches(subset, batch_size)]

    def encoder(decoded):
        return [embed_in_batches(encode, batch, batch_size, True) for batch in decoded]

    return whole, decode, encoder


def transformers_pipeline(paths, variant, image_size, batch_size):
    import torch
    import transformers
    from PIL import Image as PILImage

    from keras_siglip.towers import decode_variant

    sizes = decode_variant(variant)

    def tower(config):
        return {
            "hidden_size": config["hidden_dim"],
            "intermediate_size": config["intermediate_dim"],
            "num_hidden_layers": config["num_layers"],
            "num_attention_heads": config["num_heads"],
        }

    config = transformers.SiglipConfig(
        text_config={
            **tower(sizes["text"]),
            "vocab_size": VOCABULARY_SIZE,
            "max_position_embeddings": SEQUENCE_LENGTH,
        },
        vision_config={
            **tower(sizes["image"]),
            "image_size": image_size,
            "patch_size": sizes["patch_size"],
        },
    )
    model = transformers.SiglipModel(config).eval()
    processor = transformers.SiglipImageProcessor(size={"height": image_size, "width": image_size})

    def decode(subset):
        decoded = []
        for batch in batches(subset, batch_size):
            images = [PILImage.open(path).convert("RGB") for path in batch]
            decoded.append(processor(images=images, return_tensors="pt")["pixel_values"])
        return decoded

    def encoder(decoded):
        outputs = []
        with torch.inference_mode():
            for pixel_values in decoded:
                features = model.get_image_features(pixel_values=pixel_values)
                # transformers 5 returns a model output; earlier versions the tensor.
                features = getattr(features, "pooler_output", features)
                outputs.append(torch.nn.functional.normalize(features, dim=-1).numpy())
        return outputs

    def whole(subset):
        return encoder(decode(subset))

    return whole, decode, encoder


def worker(spec):
    implementation = spec["implementation"]
    paths, batch_size = spec["paths"], spec["batch_size"]
    build = ours if implementation == "ours" else transformers_pipeline
    whole, decode, encoder = build(paths, spec["variant"], spec["image_size"], batch_size)
    start = time.perf_counter()
    whole(paths[:batch_size])  # compiles (and warms up) the fixed-size batch
    warmup = time.perf_counter() - start
    seconds = common.time_calls(lambda: whole(paths), spec["rounds"], warmup=0)
    start = time.perf_counter()
    decoded = decode(paths)
    decode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    encoder(decoded)
    encode_seconds = time.perf_counter() - start
    threads = None
    if implementation == "transformers" or os.environ.get("KERAS_BACKEND") == "torch":
        import torch

        threads = torch.get_num_threads()
    return {
        "seconds": seconds,
        "warmup_seconds": warmup,
        "decode_seconds": decode_seconds,
        "encode_seconds": encode_seconds,
        "torch_threads": threads,
    }


# --- The driver ----------------------------------------------------------------------


def combinations(implementations, backends):
    """`(implementation, backend)` pairs to run; transformers runs once, on PyTorch."""
    for implementation in implementations:
        if implementation == "transformers":
            yield implementation, "torch (native)"
        else:
            for backend in backends:
                yield implementation, backend


def run_worker(spec, backend):
    env = dict(os.environ)
    env["KERAS_BACKEND"] = "torch" if backend == "torch (native)" else backend
    # The workers measure this checkout's package, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)]
    process = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    for line in process.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(
        f"{spec['implementation']} on {backend} failed (exit {process.returncode}):\n"
        f"{process.stderr[-3000:]}"
    )


def table_rows(results, count):
    rows = []
    for (implementation, backend), result in results.items():
        rate = count / common.median(result["seconds"])
        decode, encode = result["decode_seconds"], result["encode_seconds"]
        rows.append(
            [
                implementation,
                backend,
                f"{rate:.1f}",
                f"{1000 * decode / count:.1f}",
                f"{1000 * encode / count:.1f}",
                f"{100 * decode / (decode + encode):.0f}%",
                f"{result['warmup_seconds']:.1f}",
            ]
        )
    return rows


HEADER = [
    "implementation",
    "backend",
    "images/s (median)",
    "decode+resize ms/image",
    "encode ms/image",
    "decode+resize share",
    "first batch s",
]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend", nargs="+", choices=KERAS_BACKENDS, default=list(KERAS_BACKENDS)
    )
    parser.add_argument("--impl", nargs="+", choices=IMPLEMENTATIONS, default=list(IMPLEMENTATIONS))
    parser.add_argument(
        "--variant", default="B/16", help="tower sizes (keras_siglip.towers.VARIANTS)"
    )
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--images", type=int, default=64, help="JPEG files")
    parser.add_argument("--min-side", type=int, default=256, help="smallest file side, px")
    parser.add_argument("--max-side", type=int, default=480, help="largest file side, px")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over all the files")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK} (what tests/test_benchmarks.py runs)",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker is not None:
        print(RESULT_PREFIX + json.dumps(worker(json.loads(args.worker))), flush=True)
        return None
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = write_photos(folder, args.images, args.min_side, args.max_side)
        spec = {
            "paths": paths,
            "variant": args.variant,
            "image_size": args.image_size,
            "batch_size": args.batch_size,
            "rounds": args.rounds,
        }
        for implementation, backend in combinations(args.impl, args.backend):
            print(f"running {implementation} on {backend} ...", file=sys.stderr, flush=True)
            results[(implementation, backend)] = run_worker(
                {**spec, "implementation": implementation}, backend
            )
    threads = {result["torch_threads"] for result in results.values()} - {None}
    print(
        f"{args.images} JPEG files ({args.min_side}-{args.max_side} px sides) to L2-normalised "
        f"embeddings, {args.variant} at {args.image_size} px, random weights, batch "
        f"{args.batch_size}, median of {args.rounds} round(s):\n"
    )
    print(common.markdown_table(HEADER, table_rows(results, args.images), right_aligned_from=2))
    details = [f"torch threads {', '.join(map(str, sorted(threads)))}"] if threads else []
    print("\n" + common.machine_line(LIBRARIES, details))
    return results


if __name__ == "__main__":
    main()
