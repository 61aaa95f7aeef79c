"""`keras-siglip train`: its parser and what runs it (`run_training`)."""

import argparse

from keras_siglip.cli.arguments import (
    fraction,
    non_negative_float,
    non_negative_int,
    positive,
    positive_float,
)
from keras_siglip.data.emoji import HELD_OUT_SPLITS
from keras_siglip.training.main_job import (
    DATASETS,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_SEQUENCE_LENGTH,
    DEFAULT_VARIANT,
    ConfigError,
    TrainingConfig,
    run_training,
)

__all__ = ["DEFAULTS", "add_train_parser", "train"]

DEFAULTS = TrainingConfig()


def add_train_parser(subparsers):
    train = subparsers.add_parser(
        "train",
        help="train a small SigLIP on the embedded dataset (or a corpus with --data) and "
        "evaluate it",
        description=(
            "Train a small SigLIP from scratch (or fine-tune a preset with --init-from) on the "
            "embedded dataset (OpenMoji emoji captioned with their names, plus handwritten "
            "digits) or, with --data, on a corpus on disk; evaluate zero-shot classification of "
            "held-out digits and retrieval among held-out emoji (with --data: among pairs of the "
            "corpus held out of training, and the embedded data with --eval-embedded), and save "
            "a preset directory. --checkpoint-every N and --resume continue a run that was "
            "stopped."
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
    train.add_argument("--steps", type=positive, default=DEFAULTS.steps, help="optimizer steps")
    train.add_argument(
        "--batch-size",
        type=positive,
        default=DEFAULTS.batch_size,
        help="pairs per step (the loss batch)",
    )
    train.add_argument(
        "--image-size",
        type=positive,
        default=DEFAULTS.image_size,
        help=f"image side in pixels ({DEFAULT_IMAGE_SIZE} from scratch; with --init-from the "
        "preset's, and another value is refused)",
    )
    train.add_argument(
        "--variant",
        default=DEFAULTS.variant,
        help="tower sizes, NAME/PATCH (e.g. Pico/8, Nano/8, B/16); the default "
        f"{DEFAULT_VARIANT} is Nano's width with 5 image layers and 1 text layer; not with "
        "--init-from",
    )
    train.add_argument(
        "--loss",
        choices=("sigmoid", "softmax"),
        default=DEFAULTS.loss,
        help="contrastive loss",
    )
    train.add_argument(
        "--learning-rate",
        type=positive_float,
        default=DEFAULTS.learning_rate,
        help="peak learning rate",
    )
    train.add_argument(
        "--temperature-and-bias-learning-rate-multiplier",
        type=positive_float,
        default=DEFAULTS.temperature_and_bias_learning_rate_multiplier,
        help="factor on the learning rate of the loss's temperature and bias (Adam moves each "
        "by about the learning rate per step, so at 1 they stay near the paper's "
        "initialisation in a short run; the default 10 lets the temperature reach about 20)",
    )
    train.add_argument(
        "--weight-decay",
        type=non_negative_float,
        default=DEFAULTS.weight_decay,
        help="decoupled weight decay of the kernels per step at the peak rate (big_vision's "
        "convention)",
    )
    train.add_argument(
        "--vocabulary-size",
        type=positive,
        default=None,
        help="SentencePiece pieces to train (default: 1000 for 'emoji', 4000 for "
        "'emoji-multilingual'); with --init-from the preset's tokenizer is kept and no "
        "vocabulary is trained",
    )
    train.add_argument(
        "--sequence-length",
        type=positive,
        default=DEFAULTS.sequence_length,
        help=f"fixed text length in tokens ({DEFAULT_SEQUENCE_LENGTH} from scratch; with "
        "--init-from the preset's, and another value is refused)",
    )
    train.add_argument(
        "--held-out",
        type=positive,
        default=DEFAULTS.held_out,
        help="emoji kept out of training for evaluation",
    )
    train.add_argument(
        "--held-out-split",
        choices=HELD_OUT_SPLITS,
        default=DEFAULTS.held_out_split,
        help="'known-words': hold out only emoji whose name's words all occur in training "
        "captions; 'random': any emoji (more than half then have a word the model never saw)",
    )
    train.add_argument(
        "--eval-augmentations",
        type=non_negative_int,
        default=DEFAULTS.eval_augmentations,
        help="evaluate each held-out image by the mean embedding of it and this many copies "
        "augmented as in training (rotation, scale, shift); 0 for the image alone (reported "
        "as single_view_* either way)",
    )
    train.add_argument(
        "--seed",
        type=int,
        default=DEFAULTS.seed,
        help="seed of the split, the batches and the initialisation",
    )
    train.add_argument(
        "--output-dir",
        default=DEFAULTS.output_dir,
        help="where the preset directory and metrics.json are written",
    )
    train.add_argument(
        "--data",
        default=None,
        metavar="PATH_OR_GLOB",
        help="train on a corpus on disk instead of the embedded dataset: .tar shards "
        "(WebDataset, img2dataset's output), .tfrecord files or a .csv/.tsv/.parquet caption "
        "table, as a file, folder or glob; the vocabulary is trained on its first captions "
        "and the embedded training captions; zero-shot and retrieval are still evaluated on "
        "the embedded held-out digits and emoji",
    )
    train.add_argument(
        "--image-root",
        default=None,
        help="with --data and a caption table: the folder image paths are relative to "
        "(default: the table's folder)",
    )
    train.add_argument(
        "--shuffle-buffer",
        type=positive,
        default=DEFAULTS.shuffle_buffer,
        help="with --data: samples in the shuffle buffer",
    )
    train.add_argument(
        "--init-from",
        default=DEFAULTS.init_from,
        metavar="PRESET",
        help="fine-tune a pretrained model: anything SigLIP.from_preset takes (a preset "
        "directory, a builtin name, a transformers or keras-hub checkpoint, hf:// or "
        "kaggle://); its weights, tokenizer, image size and text length are kept",
    )
    train.add_argument(
        "--locked-towers",
        choices=("image", "text"),
        default=DEFAULTS.locked_towers,
        help="with --init-from: keep this tower's pretrained weights fixed and train the other "
        "(LiT: 'image')",
    )
    train.add_argument(
        "--checkpoint-every",
        type=positive,
        default=DEFAULTS.checkpoint_every,
        metavar="N",
        help="write a resumable checkpoint every N steps (and at the last) to "
        "OUTPUT_DIR/checkpoints",
    )
    train.add_argument(
        "--keep-checkpoints",
        type=positive,
        default=DEFAULTS.keep_checkpoints,
        metavar="K",
        help="checkpoints kept, the newest",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --output-dir from its last checkpoint, with the same "
        "arguments (the same --steps included); a finished run says so and trains nothing",
    )
    train.add_argument(
        "--validation-fraction",
        type=fraction,
        default=DEFAULTS.validation_fraction,
        metavar="F",
        help="with --data: hold out this share of the corpus's pairs (chosen by a hash of each "
        "sample's key), never trained on, and report retrieval among them (at most 2,000 "
        "evaluated); default 0.02, 0 disables",
    )
    train.add_argument(
        "--validation-data",
        default=DEFAULTS.validation_data,
        metavar="PATH_OR_GLOB",
        help="report retrieval among the pairs of this corpus (at most 2,000) instead of a "
        "share of --data",
    )
    train.add_argument(
        "--eval-embedded",
        action="store_true",
        help="with --data: also evaluate on the embedded held-out digits and emoji (always "
        "done without --data)",
    )


def train(args):
    try:
        return run_training(args)
    except ConfigError as error:
        flag = error.message(lambda name: "--" + name.replace("_", "-"))
        raise SystemExit(f"keras-siglip train: error: {flag}") from None
