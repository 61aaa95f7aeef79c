"""`keras-siglip classify`, `embed`, `search` and `presets`: the parsers and the
commands that run a pretrained model (see `keras_siglip.inference`).

Progress goes to stderr and results to stdout, as JSON with `--json`.
"""

import json
import sys

from keras_siglip.cli.arguments import positive
from keras_siglip.evaluation import DEFAULT_TEMPLATES
from keras_siglip.inference import (
    DEFAULT_BATCH_SIZE,
    Embedder,
    ImageIndex,
    classify,
    embed,
    expand_images,
    save_embeddings,
)
from keras_siglip.presets import get_preset, list_presets

__all__ = [
    "PRESET_HELP",
    "add_classify_parser",
    "add_embed_parser",
    "add_presets_parser",
    "add_search_parser",
    "classify_command",
    "embed_command",
    "preset_rows",
    "presets_command",
    "search_command",
]

PRESET_HELP = (
    "a builtin preset with weights (see `keras-siglip presets`), a preset directory, a "
    "transformers or keras-hub SigLIP directory, or a Hugging Face Hub id "
    "(google/siglip-base-patch16-224)"
)


def _add_model_arguments(parser):
    parser.add_argument("--preset", required=True, help=PRESET_HELP)
    parser.add_argument(
        "--batch-size",
        type=positive,
        default=DEFAULT_BATCH_SIZE,
        help="inputs per call of a tower (each call is padded to it, so it compiles once; "
        "default %(default)s)",
    )


def add_classify_parser(subparsers):
    parser = subparsers.add_parser(
        "classify",
        help="zero-shot classify image files against labels you name",
        description=(
            "Score each image against each label with a pretrained SigLIP (prompts made from "
            "templates such as 'a photo of a {}.', averaged per label) and print the best "
            "labels per image with their probabilities. SigLIP scores each image-label pair "
            "on its own, so the probabilities do not sum to one."
        ),
    )
    _add_model_arguments(parser)
    parser.add_argument(
        "--labels", required=True, help='the class names, separated by commas: "cat,dog,car"'
    )
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files, or folders (their images, sorted)"
    )
    parser.add_argument(
        "--template",
        "--templates",
        dest="templates",
        action="append",
        metavar="TEMPLATE",
        help="a prompt with {} where the label goes; repeat the flag for several (their "
        "embeddings are averaged per label); default: keras_siglip.evaluation.DEFAULT_TEMPLATES",
    )
    parser.add_argument(
        "--top-k",
        type=positive,
        default=3,
        help="labels printed per image (all with --json; default %(default)s)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print a JSON list of {"image": path, "scores": {label: probability}} in input order',
    )


def add_embed_parser(subparsers):
    parser = subparsers.add_parser(
        "embed",
        help="write L2-normalised embeddings of images or texts to a .npy file",
        description=(
            "Embed images or texts with a pretrained SigLIP and save the L2-normalised float32 "
            "embeddings, one row per input in order (a folder gives its images, sorted by "
            "path), as a .npy file (numpy.load reads it). Image and text embeddings share one "
            "space: their dot product times exp(log_temperature), plus the bias, is the "
            "model's logit."
        ),
    )
    _add_model_arguments(parser)
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument(
        "--images", nargs="+", metavar="PATH", help="image files or folders (their images, sorted)"
    )
    inputs.add_argument("--texts", nargs="+", metavar="TEXT", help="texts, one embedding each")
    parser.add_argument(
        "--output", required=True, metavar="FILE.npy", help="the .npy file to write (replaced)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"output": path, "shape": [rows, dim], "inputs": [the image path or text '
        "of each row]} instead of a sentence",
    )


def add_search_parser(subparsers):
    parser = subparsers.add_parser(
        "search",
        help="rank a folder's images by how well they match a text query",
        description=(
            "Rank the images of a folder (searched recursively) by the model's probability "
            "that each matches QUERY, best first. The image embeddings are cached in an index "
            "file (FOLDER.keras-siglip-index.npz beside the folder, or --index); images added "
            "or changed since the last search are embedded again, removed ones dropped."
        ),
    )
    _add_model_arguments(parser)
    parser.add_argument("--images", required=True, metavar="FOLDER", help="the folder of images")
    parser.add_argument("query", help="the text to search for, e.g. 'a dog on a beach'")
    parser.add_argument(
        "--top-k", type=positive, default=5, help="images printed (default %(default)s)"
    )
    parser.add_argument(
        "--index",
        default=None,
        metavar="FILE",
        help="the index file (default: FOLDER.keras-siglip-index.npz beside the folder)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print a JSON list of {"image": path, "score": probability}, best first',
    )


def add_presets_parser(subparsers):
    parser = subparsers.add_parser(
        "presets",
        help="list the builtin presets with their sizes and whether they carry weights",
        description=(
            "List the builtin presets: architecture, parameters, image size, text length, "
            "vocabulary, and where their weights come from (a preset without weights is an "
            "architecture, for `SigLIP.from_preset(name, load_weights=False)`)."
        ),
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON list, one object per preset"
    )


def _progress(verb, noun):
    """A `progress(done, total)` that reports on stderr, e.g. "embedded 16/40 images"."""

    def report(done, total):
        print(f"{verb} {done}/{total} {noun}", file=sys.stderr, flush=True)

    return report


def _load_embedder(args):
    print(f"loading {args.preset} ...", file=sys.stderr, flush=True)
    return Embedder.from_preset(args.preset, batch_size=args.batch_size)


def _print_json(value):
    print(json.dumps(value, indent=2, ensure_ascii=False))


def classify_command(args):
    labels = [label.strip() for label in args.labels.split(",")]
    if not all(labels):
        raise ValueError(
            f"--labels must be class names separated by commas, none empty; got {args.labels!r}."
        )
    images = expand_images(args.images)
    results = classify(
        _load_embedder(args),
        labels,
        images,
        templates=args.templates or DEFAULT_TEMPLATES,
        progress=_progress("classified", "images"),
    )
    if args.json:
        _print_json(results)
        return results
    for result in results:
        best = sorted(result["scores"].items(), key=lambda item: -item[1])[: args.top_k]
        scores = ", ".join(f"{label} {probability:.3f}" for label, probability in best)
        print(f"{result['image']}: {scores}")
    return results


def embed_command(args):
    embedder = _load_embedder(args)
    if args.images is not None:
        inputs = [str(path) for path in expand_images(args.images)]
        embeddings = embed(embedder, images=inputs, progress=_progress("embedded", "images"))
    else:
        inputs = list(args.texts)
        embeddings = embed(embedder, texts=inputs, progress=_progress("embedded", "texts"))
    path = save_embeddings(args.output, embeddings)
    if args.json:
        _print_json({"output": path, "shape": list(embeddings.shape), "inputs": inputs})
    else:
        print(
            f"Wrote {embeddings.shape[0]} x {embeddings.shape[1]} float32 embeddings "
            f"(L2-normalised, one row per input) to {path}, shape {embeddings.shape}."
        )
    return embeddings


def search_command(args):
    index = ImageIndex(args.images, _load_embedder(args), args.index)
    counts = index.refresh(progress=_progress("embedded", "new or changed images"))
    print(
        f"index {index.index_path}: {counts['added']} added, {counts['changed']} changed, "
        f"{counts['removed']} removed, {counts['unchanged']} unchanged",
        file=sys.stderr,
    )
    results = index.search(args.query, args.top_k)
    if args.json:
        _print_json(results)
    else:
        for result in results:
            print(f"{result['score']:.4f}  {result['image']}")
    return results


def preset_rows():
    """One dict per builtin preset: its name, sizes and weights' source (or None)."""
    rows = []
    for name in list_presets():
        preset = get_preset(name)
        config, weights = preset["config"], preset.get("weights")
        rows.append(
            {
                "name": name,
                "variant": config["variant"],
                "parameters": preset.get("parameters"),
                "image_size": config["image_size"],
                "sequence_length": config["sequence_length"],
                "vocabulary_size": config["vocabulary_size"],
                "weights": bool(weights),
                "weights_source": weights.get("source") if weights else None,
                "description": preset.get("description", ""),
            }
        )
    return rows


def presets_command(args):
    rows = preset_rows()
    if args.json:
        _print_json(rows)
        return rows
    header = ("NAME", "VARIANT", "PARAMETERS", "IMAGE", "TEXT", "VOCABULARY", "WEIGHTS")
    table = [header] + [
        (
            row["name"],
            row["variant"],
            "?" if row["parameters"] is None else f"{row['parameters'] / 1e6:,.1f}M",
            f"{row['image_size']} px",
            f"{row['sequence_length']} tokens",
            f"{row['vocabulary_size']:,}",
            row["weights_source"] or "none (architecture only)",
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    return rows
