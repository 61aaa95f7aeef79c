"""`keras-siglip`: the command line.

    keras-siglip train [--dataset emoji | --data PATH_OR_GLOB] [--steps N] [--batch-size N] ...
    keras-siglip convert SOURCE OUTPUT_DIR
    keras-siglip export-corpus OUTPUT_DIR [--format webdataset|tfrecord|csv|tsv|parquet] ...
    keras-siglip classify --preset P --labels "cat,dog" IMAGE... [--top-k K] [--json]
    keras-siglip embed --preset P (--images PATH... | --texts TEXT...) --output FILE.npy
    keras-siglip search --preset P --images FOLDER QUERY [--top-k K] [--index FILE] [--json]
    keras-siglip presets [--json]
    keras-siglip --version

`train` trains a small SigLIP from scratch on the embedded dataset (OpenMoji emoji
named in words, and handwritten digits), evaluates it on held-out data —
zero-shot classification of digit images and image-text retrieval among emoji never
seen in training (by default emoji whose names use words other emoji taught it, each
image embedded with 32 augmented copies averaged in), each number next to chance — and
writes a preset directory
(`SigLIP.from_preset(DIR)` loads it) and `DIR/metrics.json` to `--output-dir`.

With `--data`, `train` reads its training pairs from a corpus on disk (WebDataset tar
shards, TFRecord files, or a CSV/TSV/Parquet caption table and its images; see
`keras_siglip.data.open_corpus`) instead of the embedded dataset; evaluation stays on
the embedded held-out data. `export-corpus` writes the embedded dataset in those formats.

`convert` reads anything `SigLIP.from_preset` reads (a transformers SigLIP directory,
a keras-hub preset, a big_vision `.npz`, an `hf://` or `kaggle://` handle, a builtin
preset name) and writes it as a keras_siglip preset directory, with its tokenizer
when the source has one.

`classify`, `embed` and `search` run a pretrained model on image files and folders
(see `keras_siglip.inference`); they report progress on stderr and print results on
stdout, as JSON with `--json`. `presets` lists the builtin presets.
"""

import argparse
import json
import math
import sys

from keras_siglip.data.emoji import ATTRIBUTION, HELD_OUT_SPLITS
from keras_siglip.data.export import CORPUS_FORMATS, EXPORT_SPLITS, export_embedded_corpus
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
from keras_siglip.presets.conversion import convert_to_preset
from keras_siglip.training.main_job import (
    DATASETS,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_SEQUENCE_LENGTH,
    DEFAULT_VARIANT,
    RENDER_SIZE,
    ConfigError,
    TrainingConfig,
    run_training,
)
from keras_siglip.version import __version__

DEFAULTS = TrainingConfig()


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, pointing at `--help` instead of printing the usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` lists the options)\n")


def build_parser():
    parser = _Parser(
        prog="keras-siglip", description="Train and evaluate SigLIP models with Keras."
    )
    parser.add_argument("--version", action="version", version=f"keras-siglip {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the Python traceback of an error instead of its one-line message "
        "(also accepted after the subcommand)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add_parser in PARSERS:
        add_parser(subparsers)
    return parser


def add_train_parser(subparsers):
    train = subparsers.add_parser(
        "train",
        help="train a small SigLIP on the embedded dataset (or a corpus with --data) and evaluate it",
        description=(
            "Train a small SigLIP from scratch (or fine-tune a preset with --init-from) on the "
            "embedded dataset (OpenMoji emoji captioned with their names, plus handwritten digits) "
            "or, with --data, on a corpus on disk; evaluate zero-shot classification of held-out "
            "digits and retrieval among held-out emoji (with --data: among pairs of the corpus "
            "held out of training, and the embedded data with --eval-embedded), and save a preset "
            "directory. --checkpoint-every N and --resume continue a run that was stopped."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    train.add_argument(
        "--dataset",
        choices=sorted(DATASETS),
        default=DEFAULTS.dataset,
        help="embedded dataset: 'emoji' captions in English, 'emoji-multilingual' in the "
        "14 languages of the emoji package (evaluation is in English either way)",
    )
    train.add_argument("--steps", type=_positive, default=DEFAULTS.steps, help="optimizer steps")
    train.add_argument("--batch-size", type=_positive, default=DEFAULTS.batch_size, help="pairs per step (the loss batch)")
    train.add_argument(
        "--image-size",
        type=_positive,
        default=DEFAULTS.image_size,
        help=f"image side in pixels ({DEFAULT_IMAGE_SIZE} from scratch; with --init-from the preset's, "
        "and another value is refused)",
    )
    train.add_argument(
        "--variant",
        default=DEFAULTS.variant,
        help="tower sizes, NAME/PATCH (e.g. Pico/8, Nano/8, B/16); the default "
        f"{DEFAULT_VARIANT} is Nano's width with 5 image layers and 1 text layer; not with --init-from",
    )
    train.add_argument("--loss", choices=("sigmoid", "softmax"), default=DEFAULTS.loss, help="contrastive loss")
    train.add_argument("--learning-rate", type=_positive_float, default=DEFAULTS.learning_rate, help="peak learning rate")
    train.add_argument(
        "--temperature-and-bias-learning-rate-multiplier",
        type=_positive_float,
        default=DEFAULTS.temperature_and_bias_learning_rate_multiplier,
        help="factor on the learning rate of the loss's temperature and bias (Adam moves each by about the "
        "learning rate per step, so at 1 they stay near the paper's initialisation in a short run; the "
        "default 10 lets the temperature reach about 20)",
    )
    train.add_argument(
        "--weight-decay",
        type=_non_negative_float,
        default=DEFAULTS.weight_decay,
        help="decoupled weight decay of the kernels per step at the peak rate (big_vision's convention)",
    )
    train.add_argument(
        "--vocabulary-size",
        type=_positive,
        default=None,
        help="SentencePiece pieces to train (default: 1000 for 'emoji', 4000 for 'emoji-multilingual'); "
        "with --init-from the preset's tokenizer is kept and no vocabulary is trained",
    )
    train.add_argument(
        "--sequence-length",
        type=_positive,
        default=DEFAULTS.sequence_length,
        help=f"fixed text length in tokens ({DEFAULT_SEQUENCE_LENGTH} from scratch; with --init-from the "
        "preset's, and another value is refused)",
    )
    train.add_argument("--held-out", type=_positive, default=DEFAULTS.held_out, help="emoji kept out of training for evaluation")
    train.add_argument(
        "--held-out-split",
        choices=HELD_OUT_SPLITS,
        default=DEFAULTS.held_out_split,
        help="'known-words': hold out only emoji whose name's words all occur in training captions; "
        "'random': any emoji (more than half then have a word the model never saw)",
    )
    train.add_argument(
        "--eval-augmentations",
        type=_non_negative_int,
        default=DEFAULTS.eval_augmentations,
        help="evaluate each held-out image by the mean embedding of it and this many copies augmented as in "
        "training (rotation, scale, shift); 0 for the image alone (reported as single_view_* either way)",
    )
    train.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the split, the batches and the initialisation")
    train.add_argument(
        "--output-dir", default=DEFAULTS.output_dir, help="where the preset directory and metrics.json are written"
    )
    train.add_argument(
        "--data",
        default=None,
        metavar="PATH_OR_GLOB",
        help="train on a corpus on disk instead of the embedded dataset: .tar shards (WebDataset, "
        "img2dataset's output), .tfrecord files or a .csv/.tsv/.parquet caption table, as a file, folder "
        "or glob; the vocabulary is trained on its first captions and the embedded training captions; "
        "zero-shot and retrieval are still evaluated on the embedded held-out digits and emoji",
    )
    train.add_argument(
        "--image-root", default=None, help="with --data and a caption table: the folder image paths are relative to "
        "(default: the table's folder)"
    )
    train.add_argument(
        "--shuffle-buffer", type=_positive, default=DEFAULTS.shuffle_buffer, help="with --data: samples in the shuffle buffer"
    )
    train.add_argument(
        "--init-from",
        default=DEFAULTS.init_from,
        metavar="PRESET",
        help="fine-tune a pretrained model: anything SigLIP.from_preset takes (a preset directory, a builtin "
        "name, a transformers or keras-hub checkpoint, hf:// or kaggle://); its weights, tokenizer, image size "
        "and text length are kept",
    )
    train.add_argument(
        "--locked-towers",
        choices=("image", "text"),
        default=DEFAULTS.locked_towers,
        help="with --init-from: keep this tower's pretrained weights fixed and train the other (LiT: 'image')",
    )
    train.add_argument(
        "--checkpoint-every",
        type=_positive,
        default=DEFAULTS.checkpoint_every,
        metavar="N",
        help="write a resumable checkpoint every N steps (and at the last) to OUTPUT_DIR/checkpoints",
    )
    train.add_argument(
        "--keep-checkpoints",
        type=_positive,
        default=DEFAULTS.keep_checkpoints,
        metavar="K",
        help="checkpoints kept, the newest",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --output-dir from its last checkpoint, with the same arguments (the same "
        "--steps included); a finished run says so and trains nothing",
    )
    train.add_argument(
        "--validation-fraction",
        type=_fraction,
        default=DEFAULTS.validation_fraction,
        metavar="F",
        help="with --data: hold out this share of the corpus's pairs (chosen by a hash of each sample's key), "
        "never trained on, and report retrieval among them (at most 2,000 evaluated); default 0.02, 0 disables",
    )
    train.add_argument(
        "--validation-data",
        default=DEFAULTS.validation_data,
        metavar="PATH_OR_GLOB",
        help="report retrieval among the pairs of this corpus (at most 2,000) instead of a share of --data",
    )
    train.add_argument(
        "--eval-embedded",
        action="store_true",
        help="with --data: also evaluate on the embedded held-out digits and emoji (always done without --data)",
    )


def add_convert_parser(subparsers):
    convert = subparsers.add_parser(
        "convert",
        help="convert a checkpoint (transformers, keras-hub, big_vision, hf://, kaggle://) to a preset directory",
        description=(
            "Load SOURCE as SigLIP.from_preset does and save it, with its tokenizer when "
            "SOURCE has one, as a keras_siglip preset directory."
        ),
    )
    convert.add_argument("source", help="builtin preset name, local checkpoint path, or hf:// / kaggle:// handle")
    convert.add_argument("output_dir", help="the preset directory to write")


def add_export_corpus_parser(subparsers):
    export = subparsers.add_parser(
        "export-corpus",
        help="write the embedded dataset as tar shards, TFRecord files or a caption table",
        description=(
            "Write a split of the embedded dataset (emoji and digit images with their captions) as "
            "WebDataset tar shards, TFRecord files or a CSV/TSV/Parquet caption table with an image "
            "folder: the formats `keras-siglip train --data` reads."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    export.add_argument("output_dir", help="the folder to write")
    export.add_argument("--format", choices=CORPUS_FORMATS, default="webdataset", help="corpus format")
    export.add_argument(
        "--split",
        choices=sorted(EXPORT_SPLITS),
        default="train",
        help="'train': the emoji and digits `keras-siglip train` trains on; 'test': the held-out ones",
    )
    export.add_argument(
        "--captions",
        choices=("name", "all"),
        default="name",
        help="'name': one sample per image with its name; 'all': one per caption the image has "
        "(aliases, digit templates)",
    )
    export.add_argument("--image-size", type=_positive, default=RENDER_SIZE, help="side of the drawn images in pixels")
    export.add_argument("--image-format", choices=("jpeg", "png", "webp"), default="jpeg", help="image encoding")
    export.add_argument("--samples-per-shard", type=_positive, default=1000, help="samples per tar or TFRecord file")
    export.add_argument("--held-out", type=_positive, default=300, help="emoji held out (as in train)")
    export.add_argument("--seed", type=int, default=0, help="seed of the split (as in train)")
    export.add_argument("--held-out-split", choices=HELD_OUT_SPLITS, default="known-words", help="as in train")


def _number(text, kind):
    """`text` as an int or a finite float; argparse names the flag in the error."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _positive(text):
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text):
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text}")
    return value


def _positive_float(text):
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text):
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def train(args):
    try:
        return run_training(args)
    except ConfigError as error:
        flag = error.message(lambda name: "--" + name.replace("_", "-"))
        raise SystemExit(f"keras-siglip train: error: {flag}") from None


def convert(args):
    convert_to_preset(args.source, args.output_dir)


def export_corpus(args):
    paths, num_pairs = export_embedded_corpus(
        args.output_dir,
        corpus_format=args.format,
        split=args.split,
        captions=args.captions,
        image_size=args.image_size,
        image_format=args.image_format,
        samples_per_shard=args.samples_per_shard,
        held_out=args.held_out,
        seed=args.seed,
        held_out_split=args.held_out_split,
    )
    print(
        f"Wrote {num_pairs:,} image-caption pairs ({args.split} split) to {len(paths)} "
        f"{args.format} file(s) in {args.output_dir}."
    )
    print(f"The artwork's licence: {ATTRIBUTION}")
    return paths


# --- Inference commands: classify, embed, search, presets -------------------------

PRESET_HELP = (
    "a builtin preset with weights (see `keras-siglip presets`), a preset directory, a "
    "transformers or keras-hub SigLIP directory, or a Hugging Face Hub id "
    "(google/siglip-base-patch16-224)"
)


def _add_model_arguments(parser):
    parser.add_argument("--preset", required=True, help=PRESET_HELP)
    parser.add_argument(
        "--batch-size",
        type=_positive,
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
        type=_positive,
        default=3,
        help="labels printed per image (all with --json; default %(default)s)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print a JSON list of {"image": path, "scores": {label: probability}} in input '
        "order",
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
        'of each row]} instead of a sentence',
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
        "--top-k", type=_positive, default=5, help="images printed (default %(default)s)"
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


# One parser builder per subcommand, in the order `--help` lists them, and what runs each.
PARSERS = (
    add_train_parser,
    add_convert_parser,
    add_export_corpus_parser,
    add_classify_parser,
    add_embed_parser,
    add_search_parser,
    add_presets_parser,
)
COMMANDS = {
    "train": train,
    "convert": convert,
    "export-corpus": export_corpus,
    "classify": classify_command,
    "embed": embed_command,
    "search": search_command,
    "presets": presets_command,
}


# What the library raises for bad settings, files and data: the command line shows
# these as one line (and exit status 2); anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError)


def main(argv=None):
    """Run `keras-siglip ARGS`; returns the exit status.

    An error in the arguments, the files or the data prints one line,
    `keras-siglip COMMAND: error: MESSAGE`, on stderr and returns 2 (argparse's
    status for usage errors); an interrupt (Ctrl-C) prints one line and returns 130.
    `--debug`, before or after the subcommand, shows the traceback instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    # Accepted anywhere, so that a failed command can be rerun with it appended.
    argv = [argument for argument in argv if argument != "--debug"]
    args = build_parser().parse_args(argv)
    prefix = f"keras-siglip {args.command}"
    try:
        COMMANDS[args.command](args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exit:
        # A command that ends with a message (`SystemExit("...")`) is an error too.
        if debug or not isinstance(exit.code, str):
            raise
        print(_one_line(exit.code), file=sys.stderr)
        return 2
    except USER_ERRORS as error:
        if debug:
            raise
        message = (
            error.message(lambda name: "--" + name.replace("_", "-"))
            if isinstance(error, ConfigError)
            else str(error) or type(error).__name__
        )
        print(f"{prefix}: error: {_one_line(message)} (--debug shows the traceback)", file=sys.stderr)
        return 2
    return 0


def _one_line(message):
    # Keras wraps errors raised in a layer in several lines of context; the
    # first non-empty line after its header is the error itself.
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if lines and lines[0].startswith("Exception encountered when calling") and len(lines) > 1:
        lines = lines[1:2]
    return " ".join(lines).replace("\x1b[1m", "").replace("\x1b[0m", "")


if __name__ == "__main__":
    sys.exit(main())
