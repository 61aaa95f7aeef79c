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
import sys

from keras_siglip.cli.export import (
    add_convert_parser,
    add_export_corpus_parser,
    convert,
    export_corpus,
)
from keras_siglip.cli.inference import (
    PRESET_HELP,
    add_classify_parser,
    add_embed_parser,
    add_presets_parser,
    add_search_parser,
    classify_command,
    embed_command,
    preset_rows,
    presets_command,
    search_command,
)
from keras_siglip.cli.training import DEFAULTS, add_train_parser, train
from keras_siglip.data.emoji import HELD_OUT_SPLITS
from keras_siglip.training.main_job import DATASETS, ConfigError
from keras_siglip.version import __version__

__all__ = [
    "COMMANDS",
    "DATASETS",
    "DEFAULTS",
    "HELD_OUT_SPLITS",
    "PARSERS",
    "PRESET_HELP",
    "USER_ERRORS",
    "add_classify_parser",
    "add_convert_parser",
    "add_embed_parser",
    "add_export_corpus_parser",
    "add_presets_parser",
    "add_search_parser",
    "add_train_parser",
    "build_parser",
    "classify_command",
    "convert",
    "embed_command",
    "export_corpus",
    "main",
    "preset_rows",
    "presets_command",
    "search_command",
    "train",
]


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
        print(
            f"{prefix}: error: {_one_line(message)} (--debug shows the traceback)",
            file=sys.stderr,
        )
        return 2
    return 0


def _one_line(message):
    # Keras wraps errors raised in a layer in several lines of context; the
    # first non-empty line after its header is the error itself.
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if lines and lines[0].startswith("Exception encountered when calling") and len(lines) > 1:
        lines = lines[1:2]
    return " ".join(lines).replace("\x1b[1m", "").replace("\x1b[0m", "")
