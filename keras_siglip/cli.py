"""`keras-siglip`: the command line.

    keras-siglip train [--dataset emoji | --data PATH_OR_GLOB] [--steps N] [--batch-size N] ...
    keras-siglip convert SOURCE OUTPUT_DIR
    keras-siglip export-corpus OUTPUT_DIR [--format webdataset|tfrecord|csv|tsv|parquet] ...

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
"""

import argparse
import json
import os
import sys
import time

import keras
import numpy as np

from keras_siglip.data import corpus_captions, corpus_files, emoji, open_corpus, write_corpus
from keras_siglip.data.emoji import DIGIT_NAMES, augment
from keras_siglip.evaluation import (
    ZeroShotClassifier,
    augmented_image_encoder,
    compiled_encoder,
    embed_in_batches,
    retrieval_metrics,
)
from keras_siglip.model import SigLIP
from keras_siglip.preprocessing import (
    SigLIPPreprocessor,
    SigLIPTokenizer,
    preprocess_images,
    train_sentencepiece,
)
from keras_siglip.presets import registry

# Each dataset: the caption languages, and the default vocabulary size (the Chinese,
# Japanese and Korean names alone need more than 2,000 single-character pieces).
DATASETS = {
    "emoji": (("en",), 1000),
    # Captions in every language of the `emoji` package; evaluation stays English.
    "emoji-multilingual": (("en", "es", "ja", "ko", "pt", "it", "fr", "de", "fa", "id", "zh", "ru", "tr", "ar"), 4000),
}
# The splits `export-corpus` writes.
EXPORT_SPLITS = {
    "train": lambda data: (data.train, data.digits_train),
    "test": lambda data: (data.test, data.digits_test),
}
CORPUS_FORMATS = ("webdataset", "tfrecord", "csv", "tsv", "parquet")
# Captions of a corpus (with --data) the vocabulary is trained on, next to the
# embedded training captions that evaluation needs.
VOCABULARY_CORPUS_CAPTIONS = 20000
ZERO_SHOT_TEMPLATES = ("a photo of the digit {}.", "a picture of the number {}.", "{}, handwritten.")
RENDER_SIZE = 64
HELD_OUT_SPLITS = ("random", "known-words")
# The metrics `--eval-augmentations` also reports for the plain images, as `single_view_*`.
SINGLE_VIEW_KEYS = ("zero_shot_top1", "i2t_recall@1", "t2i_recall@1", "i2t_recall@5", "t2i_recall@5")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-siglip", description="Train and evaluate SigLIP models with Keras."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train a small SigLIP on the embedded dataset (or a corpus with --data) and evaluate it",
        description=(
            "Train a small SigLIP from scratch on the embedded dataset (OpenMoji emoji "
            "captioned with their names, plus handwritten digits) or, with --data, on a corpus "
            "on disk; evaluate zero-shot classification of held-out digits and retrieval among "
            "held-out emoji (embedded data in both cases), and save a preset directory."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    train.add_argument(
        "--dataset",
        choices=sorted(DATASETS),
        default="emoji",
        help="embedded dataset: 'emoji' captions in English, 'emoji-multilingual' in the "
        "14 languages of the emoji package (evaluation is in English either way)",
    )
    train.add_argument("--steps", type=_positive, default=1800, help="optimizer steps")
    train.add_argument("--batch-size", type=_positive, default=128, help="pairs per step (the loss batch)")
    train.add_argument("--image-size", type=_positive, default=32, help="image side in pixels")
    train.add_argument(
        "--variant",
        default="Nano-i5t1/8",
        help="tower sizes, NAME/PATCH (e.g. Pico/8, Nano/8, B/16); the default is Nano's width with 5 image "
        "layers and 1 text layer",
    )
    train.add_argument("--loss", choices=("sigmoid", "softmax"), default="sigmoid", help="contrastive loss")
    train.add_argument("--learning-rate", type=float, default=1e-3, help="peak learning rate")
    train.add_argument(
        "--temperature-and-bias-learning-rate-multiplier",
        type=_positive_float,
        default=10.0,
        help="factor on the learning rate of the loss's temperature and bias (Adam moves each by about the "
        "learning rate per step, so at 1 they stay near the paper's initialisation in a short run; the "
        "default 10 lets the temperature reach about 20)",
    )
    train.add_argument(
        "--weight-decay",
        type=_non_negative_float,
        default=1e-4,
        help="decoupled weight decay of the kernels per step at the peak rate (big_vision's convention)",
    )
    train.add_argument(
        "--vocabulary-size",
        type=_positive,
        default=None,
        help="SentencePiece pieces to train (default: 1000 for 'emoji', 4000 for 'emoji-multilingual')",
    )
    train.add_argument("--sequence-length", type=_positive, default=16, help="fixed text length in tokens")
    train.add_argument("--held-out", type=_positive, default=300, help="emoji kept out of training for evaluation")
    train.add_argument(
        "--held-out-split",
        choices=HELD_OUT_SPLITS,
        default="known-words",
        help="'known-words': hold out only emoji whose name's words all occur in training captions; "
        "'random': any emoji (more than half then have a word the model never saw)",
    )
    train.add_argument(
        "--eval-augmentations",
        type=_non_negative_int,
        default=32,
        help="evaluate each held-out image by the mean embedding of it and this many copies augmented as in "
        "training (rotation, scale, shift); 0 for the image alone (reported as single_view_* either way)",
    )
    train.add_argument("--seed", type=int, default=0, help="seed of the split, the batches and the initialisation")
    train.add_argument(
        "--output-dir", default="runs/siglip", help="where the preset directory and metrics.json are written"
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
        "--shuffle-buffer", type=_positive, default=1000, help="with --data: samples in the shuffle buffer"
    )
    convert = commands.add_parser(
        "convert",
        help="convert a checkpoint (transformers, keras-hub, big_vision, hf://, kaggle://) to a preset directory",
        description=(
            "Load SOURCE as SigLIP.from_preset does and save it, with its tokenizer when "
            "SOURCE has one, as a keras_siglip preset directory."
        ),
    )
    convert.add_argument("source", help="builtin preset name, local checkpoint path, or hf:// / kaggle:// handle")
    convert.add_argument("output_dir", help="the preset directory to write")
    export = commands.add_parser(
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
    return parser


def export_corpus(args):
    data = emoji.load_emoji(
        seed=args.seed, num_held_out=args.held_out, render_size=args.image_size, held_out_split=args.held_out_split
    )
    images, captions = [], []
    for split in EXPORT_SPLITS[args.split](data):
        for image, choices in zip(split.images, split.caption_choices):
            for caption in choices if args.captions == "all" else choices[:1]:
                images.append(image)
                captions.append(caption)
    options = {"image_format": args.image_format}
    if args.format in ("webdataset", "tfrecord"):
        options["samples_per_shard" if args.format == "webdataset" else "samples_per_file"] = args.samples_per_shard
    paths = write_corpus(args.output_dir, args.format, images, captions, **options)
    print(f"Wrote {len(captions):,} image-caption pairs ({args.split} split) to {len(paths)} {args.format} file(s) in {args.output_dir}.")
    print(f"The artwork's licence: {emoji.ATTRIBUTION}")
    return paths


def convert(args):
    kind, location = registry.local_source(args.source)
    print(f"Reading {args.source} ({registry.KINDS[kind]}) ...", flush=True)
    model = SigLIP.from_preset(location)
    try:
        preprocessor = SigLIPPreprocessor.from_preset(location)
    except (ValueError, FileNotFoundError) as error:
        preprocessor = None
        print(f"  no tokenizer saved: {error}")
    model.save_to_preset(
        args.output_dir,
        preprocessor=preprocessor,
        description=f"Converted from {args.source}.",
        metadata={"converted_from": args.source, "source_format": kind},
    )
    print(f"Wrote {args.output_dir}: {model.count_params():,} parameters; load it with SigLIP.from_preset({args.output_dir!r}).")


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def train(args):
    if args.data:
        _check_corpus(args)
        # TensorFlow's own arena for the pipeline's images instead of a `malloc` per
        # image: steadier and faster on 2 cores (README, "Input pipeline"). It must be
        # chosen before TensorFlow's first allocation, which this command has not made
        # yet; `TF_CPU_ALLOCATOR_USE_BFC=false` in the environment keeps the default.
        os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    print(f"Drawing the '{args.dataset}' dataset (OpenMoji emoji and scikit-learn digits)...", flush=True)
    languages, default_vocabulary_size = DATASETS[args.dataset]
    data = emoji.load_emoji(
        seed=args.seed,
        num_held_out=args.held_out,
        render_size=RENDER_SIZE,
        languages=languages,
        held_out_split=args.held_out_split,
    )
    print(
        f"  {len(data.train)} training emoji, {len(data.test)} held-out emoji; "
        f"{len(data.digits_train)} training digits, {len(data.digits_test)} held-out digits",
        flush=True,
    )
    vocabulary_size = args.vocabulary_size or default_vocabulary_size
    captions = data.training_captions()
    if args.data:
        corpus_captions = _corpus_captions(args)
        print(f"  read {len(corpus_captions):,} captions of the corpus {args.data} for the vocabulary")
        captions = corpus_captions + captions
    vocabulary = train_sentencepiece(captions, vocabulary_size, hard_vocab_limit=False)
    tokenizer = SigLIPTokenizer(vocabulary, sequence_length=args.sequence_length)
    preprocessor = SigLIPPreprocessor(tokenizer, image_size=args.image_size)
    print(f"  trained a SentencePiece vocabulary of {tokenizer.vocabulary_size} pieces on the training captions")

    if args.data:
        dataset = _corpus_dataset(args, preprocessor)
        skipped = dataset.skipped
    else:
        dataset = TrainingStream(data, preprocessor, args.batch_size, args.seed).batches()
        skipped = None
    model = SigLIP.from_variant(
        args.variant,
        image_size=args.image_size,
        sequence_length=args.sequence_length,
        vocabulary_size=tokenizer.vocabulary_size,
    )
    print(f"SigLIP {args.variant}: {model.count_params():,} parameters, backend {keras.backend.backend()}.")
    model.compile(
        loss=args.loss,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        warmup_steps=max(1, args.steps // 20),
        decay_steps=args.steps,
        temperature_and_bias_learning_rate_multiplier=args.temperature_and_bias_learning_rate_multiplier,
    )
    print(f"Preparing took {time.perf_counter() - start:.0f} s. Training for {args.steps} steps of {args.batch_size} pairs:")
    train_start = time.perf_counter()
    model.fit(
        dataset, steps_per_epoch=args.steps, epochs=1, shuffle=False, verbose=0,
        callbacks=[progress_report(args.steps, skipped=skipped)],
    )
    train_seconds = time.perf_counter() - train_start
    if skipped is not None:
        print(f"Corpus {args.data}: {skipped}.")

    trained_captions = corpus_captions if args.data else data.training_captions()
    evaluation = HeldOutEvaluation(data, model, tokenizer, args.image_size, trained_captions)
    encode_images = compiled_encoder(model.image_encoder)
    if args.eval_augmentations:
        augmented = augmented_image_encoder(encode_images, emoji.augment, args.eval_augmentations, seed=args.seed)
        metrics = evaluation(augmented)
        single_view = evaluation(encode_images)
        metrics.update({f"single_view_{key}": single_view[key] for key in SINGLE_VIEW_KEYS})
    else:
        metrics = evaluation(encode_images)
    metrics = {
        **metrics,
        "held_out_split": args.held_out_split,
        "eval_augmentations": args.eval_augmentations,
        "train_seconds": round(train_seconds, 1),
    }
    if skipped is not None:
        metrics["corpus_samples_read"] = skipped.read
        metrics["corpus_samples_skipped"] = skipped.skipped
        metrics["corpus_skipped_by_reason"] = skipped.counts()
    _report(metrics)
    trained_on = f"the corpus {args.data}" if args.data else f"the embedded '{args.dataset}' dataset"
    model.save_to_preset(
        args.output_dir,
        preprocessor=preprocessor,
        description=f"SigLIP {args.variant} trained by `keras-siglip train` on {trained_on}.",
        metadata={"training": vars(args) | {"attribution": emoji.ATTRIBUTION}, "metrics": metrics},
    )
    with open(os.path.join(args.output_dir, "metrics.json"), "w") as handle:
        json.dump(metrics, handle, indent=2)
    print(f"Saved the preset and metrics.json to {args.output_dir}; load it with SigLIP.from_preset({args.output_dir!r}).")
    return metrics


class HeldOutEvaluation:
    """Zero-shot classification of the held-out digits and retrieval among the held-out emoji.

    Texts are embedded once; each call embeds the held-out images with the image
    encoder it is given (the model's own, or one that averages augmented views) and
    returns the metrics, with recall also over the held-out names whose words all
    occur in `trained_captions` (`known_words_*`) and the others (`new_words_*`).
    """

    def __init__(self, data, model, tokenizer, image_size, trained_captions):
        self.data, self.model, self.tokenizer = data, model, tokenizer
        self.emoji_images = preprocess_images(data.test.images, image_size)
        self.digit_images = preprocess_images(data.digits_test.images, image_size)
        self.text_embeddings = embed_in_batches(compiled_encoder(model.text_encoder), tokenizer(data.test.captions), 256)
        self.known_words = emoji.known_word_mask(data.test.captions, trained_captions)

    def __call__(self, image_encoder):
        image_embeddings = embed_in_batches(image_encoder, self.emoji_images, 256)
        retrieval = retrieval_metrics(image_embeddings, self.text_embeddings)
        by_words = {}
        for prefix, mask in (("known_words", self.known_words), ("new_words", ~self.known_words)):
            by_words[f"{prefix}_items"] = int(mask.sum())
            if mask.any():
                subset = retrieval_metrics(image_embeddings, self.text_embeddings, queries=mask)
                by_words.update({f"{prefix}_{key}": value for key, value in subset.items() if "recall@" in key})
        classifier = ZeroShotClassifier(
            self.model,
            list(self.data.class_names),
            templates=ZERO_SHOT_TEMPLATES,
            tokenizer=self.tokenizer,
            image_encoder=image_encoder,
        )
        zero_shot = classifier.evaluate(self.digit_images, self.data.digits_test.labels)
        return {
            "zero_shot_top1": zero_shot["top1"],
            "zero_shot_chance": 1.0 / classifier.num_classes,
            "zero_shot_examples": len(self.digit_images),
            **retrieval,
            **by_words,
        }


def _check_corpus(args):
    try:
        corpus_format, files = corpus_files(args.data)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"keras-siglip train: error: --data: {error}") from None
    if args.image_root is not None and corpus_format != "caption_table":
        raise SystemExit(
            f"keras-siglip train: error: --image-root is for caption tables, but --data {args.data!r} "
            f"holds {corpus_format} files, which carry their images."
        )
    print(f"Training on {len(files)} {corpus_format} file(s) from {args.data}.", flush=True)


def _corpus_captions(args):
    try:
        return corpus_captions(args.data, limit=VOCABULARY_CORPUS_CAPTIONS)
    except (ValueError, FileNotFoundError, ImportError) as error:
        raise SystemExit(f"keras-siglip train: error: --data: {error}") from None


def _corpus_dataset(args, preprocessor):
    try:
        return open_corpus(
            args.data, preprocessor, args.batch_size, image_root=args.image_root,
            shuffle_buffer=args.shuffle_buffer, repeat=True, seed=args.seed,
        )
    except (ValueError, FileNotFoundError, ImportError) as error:
        raise SystemExit(f"keras-siglip train: error: --data: {error}") from None


def progress_report(total_steps, reports=10, skipped=None):
    """A callback printing the step, the mean batch loss since the last line and the time.

    With `skipped` (a `SkippedSamples`), each line also says how many corpus samples
    were read and skipped so far.
    """
    class ProgressReport(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.every = max(1, total_steps // reports)
            self.start = time.perf_counter()
            self.previous_mean = 0.0
            self.previous_step = 0

        def on_train_batch_end(self, batch, logs=None):
            step = batch + 1
            if step % self.every and step != total_steps:
                return
            # Keras logs the running mean over the epoch; recover the recent batches' mean.
            running_mean = float(logs["loss"])
            recent = (running_mean * step - self.previous_mean * self.previous_step) / (step - self.previous_step)
            self.previous_mean, self.previous_step = running_mean, step
            elapsed = time.perf_counter() - self.start
            corpus = f"   {skipped}" if skipped is not None else ""
            print(f"  step {step:>6}/{total_steps}   loss {recent:8.4f}   {elapsed:5.0f} s{corpus}", flush=True)

    return ProgressReport()


class TrainingStream:
    """Endless augmented batches of the training emoji and digits.

    Each batch holds distinct emoji and `digits_per_class` images of each digit
    class: emoji pairs never share a meaning (the loss takes every off-diagonal pair
    as a negative); the few same-class digit pairs are false negatives, a price
    worth paying for the digits' share of the batch (in runs on this dataset, two
    per class classified held-out digits better than one). Captions are drawn from each item's names; images are randomly
    rotated, scaled and shifted, which keeps the small model from memorising the
    artwork. Every caption is tokenised once, up front.
    """

    def __init__(self, data, preprocessor, batch_size, seed, digits_per_class=2):
        self.num_classes = len(DIGIT_NAMES)
        self.digits_per_class = digits_per_class
        if batch_size <= self.num_classes * digits_per_class:
            raise ValueError(
                f"`--batch-size` must exceed the {self.num_classes * digits_per_class} digit images "
                f"({digits_per_class} per class) each batch holds, got {batch_size}."
            )
        self.batch_size = batch_size
        self.image_size = preprocessor.image_size
        self.sequence_length = preprocessor.sequence_length
        self.rng = np.random.default_rng([seed, 2])
        splits = (data.train, data.digits_train)
        self.images = [preprocess_images(split.images, self.image_size) for split in splits]
        self.captions = [_tokenized_choices(split.caption_choices, preprocessor.tokenizer) for split in splits]
        labels = data.digits_train.labels
        self.digits_by_class = [(labels == label).nonzero()[0] for label in range(self.num_classes)]
        self.num_emoji = min(batch_size - self.num_classes * digits_per_class, len(data.train))
        if self.num_emoji + self.num_classes * digits_per_class < batch_size:
            raise ValueError(
                f"`--batch-size` {batch_size} is more than the {len(data.train)} training emoji plus "
                f"{self.num_classes * digits_per_class} digits that fit in one batch without repeating an item."
            )

    def batch(self):
        rng = self.rng
        emoji_index = rng.choice(len(self.images[0]), self.num_emoji, replace=False)
        digit_index = np.concatenate([rng.choice(items, self.digits_per_class, replace=False) for items in self.digits_by_class])
        images = np.concatenate([self.images[0][emoji_index], self.images[1][digit_index]])
        token_ids = np.stack(
            [self._draw_caption(0, i) for i in emoji_index] + [self._draw_caption(1, i) for i in digit_index]
        )
        order = rng.permutation(self.batch_size)
        return {"images": augment(images, rng)[order], "token_ids": token_ids[order]}

    def _draw_caption(self, split, item):
        choices = self.captions[split][item]
        return choices[self.rng.integers(len(choices))]

    def batches(self):
        """An endless Python generator of `(batch,)` tuples, the form `fit` takes.

        Not a `tf.data` pipeline: on 2 CPU cores, feeding these NumPy batches through
        `tf.data.Dataset.from_generator(...).prefetch(2)` cost more than drawing them
        (Nano/8 at batch 64, `fit` seconds per step with `tf.data` against this
        generator: JAX 0.184 / 0.147, PyTorch 0.205 / 0.121, TensorFlow 0.410 /
        0.255; one batch held in memory: JAX 0.135), while a batch takes about 9 ms
        to draw.
        """
        while True:
            yield (self.batch(),)


def _tokenized_choices(caption_choices, tokenizer):
    flat = [caption for choices in caption_choices for caption in choices]
    ids = tokenizer(flat)
    grouped, start = [], 0
    for choices in caption_choices:
        grouped.append(ids[start : start + len(choices)])
        start += len(choices)
    return grouped


def _report(metrics):
    print(
        f"\nZero-shot classification of {metrics['zero_shot_examples']} held-out digit images "
        f"(prompts such as '{ZERO_SHOT_TEMPLATES[0].format('seven')}'):"
    )
    print(f"  {'zero_shot_top1':16s} {metrics['zero_shot_top1']:6.1%}   (chance {metrics['zero_shot_chance']:.1%})")
    candidates = metrics["retrieval_candidates"]
    drawn = {"known-words": "drawn among those whose words training captions use", "random": "drawn at random"}
    print(
        f"Retrieval among {candidates} held-out emoji and their names, none seen in training "
        f"({drawn[metrics['held_out_split']]}):"
    )
    for key in sorted(key for key in metrics if key.startswith(("i2t_recall@", "t2i_recall@"))):
        k = int(key.split("@")[1])
        print(f"  {key:16s} {metrics[key]:6.1%}   (chance {k / candidates:.1%})")
    for prefix, words in (("known_words", "only words that training captions use"), ("new_words", "a word no training caption uses")):
        keys = sorted(key for key in metrics if key.startswith(prefix + "_") and "recall@" in key)
        if keys and metrics[prefix + "_items"] < candidates:  # a line only when the names split
            values = ", ".join(f"{key[len(prefix) + 1:]} {metrics[key]:.1%}" for key in keys)
            print(f"  {metrics[prefix + '_items']} names with {words}: {values}")
    if metrics["eval_augmentations"]:
        single = ", ".join(f"{key} {metrics['single_view_' + key]:.1%}" for key in SINGLE_VIEW_KEYS)
        print(
            f"Each held-out image was embedded as the mean of it and {metrics['eval_augmentations']} copies "
            f"augmented as in training; the images alone give {single}."
        )
    print(f"Training took {metrics['train_seconds']:.0f} s.")


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "train":
        train(args)
    elif args.command == "convert":
        convert(args)
    elif args.command == "export-corpus":
        export_corpus(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
