"""`keras-siglip convert` and `export-corpus`: the commands that write a preset
directory from a checkpoint, or the embedded dataset as a corpus on disk."""

import argparse

from keras_siglip.cli.arguments import positive
from keras_siglip.data.emoji import ATTRIBUTION, HELD_OUT_SPLITS
from keras_siglip.data.export import CORPUS_FORMATS, EXPORT_SPLITS, export_embedded_corpus
from keras_siglip.presets.conversion import convert_to_preset
from keras_siglip.training.main_job import RENDER_SIZE

__all__ = ["add_convert_parser", "add_export_corpus_parser", "convert", "export_corpus"]


def add_convert_parser(subparsers):
    convert = subparsers.add_parser(
        "convert",
        help="convert a checkpoint (transformers, keras-hub, big_vision, hf://, kaggle://) to a "
        "preset directory",
        description=(
            "Load SOURCE as SigLIP.from_preset does and save it, with its tokenizer when "
            "SOURCE has one, as a keras_siglip preset directory."
        ),
    )
    convert.add_argument(
        "source", help="builtin preset name, local checkpoint path, or hf:// / kaggle:// handle"
    )
    convert.add_argument("output_dir", help="the preset directory to write")


def add_export_corpus_parser(subparsers):
    export = subparsers.add_parser(
        "export-corpus",
        help="write the embedded dataset as tar shards, TFRecord files or a caption table",
        description=(
            "Write a split of the embedded dataset (emoji and digit images with their captions) "
            "as WebDataset tar shards, TFRecord files or a CSV/TSV/Parquet caption table with an "
            "image folder: the formats `keras-siglip train --data` reads."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    export.add_argument("output_dir", help="the folder to write")
    export.add_argument(
        "--format", choices=CORPUS_FORMATS, default="webdataset", help="corpus format"
    )
    export.add_argument(
        "--split",
        choices=sorted(EXPORT_SPLITS),
        default="train",
        help="'train': the emoji and digits `keras-siglip train` trains on; 'test': the "
        "held-out ones",
    )
    export.add_argument(
        "--captions",
        choices=("name", "all"),
        default="name",
        help="'name': one sample per image with its name; 'all': one per caption the image has "
        "(aliases, digit templates)",
    )
    export.add_argument(
        "--image-size",
        type=positive,
        default=RENDER_SIZE,
        help="side of the drawn images in pixels",
    )
    export.add_argument(
        "--image-format",
        choices=("jpeg", "png", "webp"),
        default="jpeg",
        help="image encoding",
    )
    export.add_argument(
        "--samples-per-shard",
        type=positive,
        default=1000,
        help="samples per tar or TFRecord file",
    )
    export.add_argument(
        "--held-out", type=positive, default=300, help="emoji held out (as in train)"
    )
    export.add_argument("--seed", type=int, default=0, help="seed of the split (as in train)")
    export.add_argument(
        "--held-out-split", choices=HELD_OUT_SPLITS, default="known-words", help="as in train"
    )


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
