"""`keras-siglip`: the command line.

    keras-siglip train [--dataset emoji] [--steps N] [--batch-size N] ...
    keras-siglip convert SOURCE OUTPUT_DIR

`train` trains a small SigLIP from scratch on the embedded dataset (OpenMoji emoji
named in words, and handwritten digits), evaluates it on held-out data —
zero-shot classification of digit images and image-text retrieval among emoji never
seen in training, each number next to chance — and writes a preset directory
(`SigLIP.from_preset(DIR)` loads it) and `DIR/metrics.json` to `--output-dir`.

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

# Each dataset: the caption languages, and the default vocabulary size (the Chinese,
# Japanese and Korean names alone need more than 2,000 single-character pieces).
DATASETS = {
    "emoji": (("en",), 1000),
    # Captions in every language of the `emoji` package; evaluation stays English.
    "emoji-multilingual": (("en", "es", "ja", "ko", "pt", "it", "fr", "de", "fa", "id", "zh", "ru", "tr", "ar"), 4000),
}
ZERO_SHOT_TEMPLATES = ("a photo of the digit {}.", "a picture of the number {}.", "{}, handwritten.")
RENDER_SIZE = 64


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-siglip", description="Train and evaluate SigLIP models with Keras."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train a small SigLIP on the embedded dataset and evaluate it",
        description=(
            "Train a small SigLIP from scratch on the embedded dataset (OpenMoji emoji "
            "captioned with their names, plus handwritten digits), evaluate zero-shot "
            "classification and retrieval on held-out data, and save a preset directory."
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
    train.add_argument("--steps", type=_positive, default=2000, help="optimizer steps")
    train.add_argument("--batch-size", type=_positive, default=64, help="pairs per step (the loss batch)")
    train.add_argument("--image-size", type=_positive, default=32, help="image side in pixels")
    train.add_argument("--variant", default="Nano/8", help="tower sizes, NAME/PATCH (e.g. Pico/8, Nano/8, B/16)")
    train.add_argument("--loss", choices=("sigmoid", "softmax"), default="sigmoid", help="contrastive loss")
    train.add_argument("--learning-rate", type=float, default=1e-3, help="peak learning rate")
    train.add_argument(
        "--vocabulary-size",
        type=_positive,
        default=None,
        help="SentencePiece pieces to train (default: 1000 for 'emoji', 4000 for 'emoji-multilingual')",
    )
    train.add_argument("--sequence-length", type=_positive, default=16, help="fixed text length in tokens")
    train.add_argument("--held-out", type=_positive, default=300, help="emoji kept out of training for evaluation")
    train.add_argument("--seed", type=int, default=0, help="seed of the split, the batches and the initialisation")
    train.add_argument(
        "--output-dir", default="runs/siglip", help="where the preset directory and metrics.json are written"
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
    return parser


def convert(args):
    from keras_siglip import SigLIP, SigLIPPreprocessor
    from keras_siglip.presets import registry

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


def train(args):
    import keras
    import numpy as np

    from keras_siglip import SigLIP
    from keras_siglip.data import emoji
    from keras_siglip.evaluation import ZeroShotClassifier, retrieval_metrics
    from keras_siglip.evaluation.embedding import embed_in_batches
    from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer, preprocess_images, train_sentencepiece

    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    print(f"Drawing the '{args.dataset}' dataset (OpenMoji emoji and scikit-learn digits)...", flush=True)
    languages, default_vocabulary_size = DATASETS[args.dataset]
    data = emoji.load_emoji(seed=args.seed, num_held_out=args.held_out, render_size=RENDER_SIZE, languages=languages)
    print(
        f"  {len(data.train)} training emoji, {len(data.test)} held-out emoji; "
        f"{len(data.digits_train)} training digits, {len(data.digits_test)} held-out digits",
        flush=True,
    )
    vocabulary_size = args.vocabulary_size or default_vocabulary_size
    vocabulary = train_sentencepiece(data.training_captions(), vocabulary_size, hard_vocab_limit=False)
    tokenizer = SigLIPTokenizer(vocabulary, sequence_length=args.sequence_length)
    preprocessor = SigLIPPreprocessor(tokenizer, image_size=args.image_size)
    print(f"  trained a SentencePiece vocabulary of {tokenizer.vocabulary_size} pieces on the training captions")

    stream = TrainingStream(data, preprocessor, args.batch_size, args.seed)
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
        warmup_steps=max(1, args.steps // 20),
        decay_steps=args.steps,
    )
    print(f"Preparing took {time.perf_counter() - start:.0f} s. Training for {args.steps} steps of {args.batch_size} pairs:")
    train_start = time.perf_counter()
    model.fit(
        stream.dataset(), steps_per_epoch=args.steps, epochs=1, shuffle=False, verbose=0,
        callbacks=[progress_report(args.steps)],
    )
    train_seconds = time.perf_counter() - train_start

    test_images = preprocess_images(data.test.images, args.image_size)
    image_embeddings = embed_in_batches(model.encode_images, test_images, 256)
    text_embeddings = embed_in_batches(model.encode_texts, tokenizer(data.test.captions), 256)
    metrics = retrieval_metrics(image_embeddings, text_embeddings)
    classifier = ZeroShotClassifier(model, list(data.class_names), templates=ZERO_SHOT_TEMPLATES, tokenizer=tokenizer)
    zero_shot = classifier.evaluate(preprocess_images(data.digits_test.images, args.image_size), data.digits_test.labels)
    metrics = {
        "zero_shot_top1": zero_shot["top1"],
        "zero_shot_chance": 1.0 / classifier.num_classes,
        "zero_shot_examples": len(data.digits_test),
        **metrics,
        "train_seconds": round(train_seconds, 1),
    }
    _report(metrics)
    model.save_to_preset(
        args.output_dir,
        preprocessor=preprocessor,
        description=f"SigLIP {args.variant} trained by `keras-siglip train` on the embedded '{args.dataset}' dataset.",
        metadata={"training": vars(args) | {"attribution": emoji.ATTRIBUTION}, "metrics": metrics},
    )
    with open(os.path.join(args.output_dir, "metrics.json"), "w") as handle:
        json.dump(metrics, handle, indent=2)
    print(f"Saved the preset and metrics.json to {args.output_dir}; load it with SigLIP.from_preset({args.output_dir!r}).")
    return metrics


def progress_report(total_steps, reports=10):
    """A callback printing the step, the mean batch loss since the last line and the time."""
    import keras

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
            print(f"  step {step:>6}/{total_steps}   loss {recent:8.4f}   {elapsed:5.0f} s", flush=True)

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
        import numpy as np

        from keras_siglip.data.emoji import DIGIT_NAMES
        from keras_siglip.preprocessing import preprocess_images

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
        import numpy as np

        from keras_siglip.data.emoji import augment

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

    def dataset(self):
        import tensorflow as tf

        def batches():
            while True:
                yield self.batch()

        signature = {
            "images": tf.TensorSpec((self.batch_size, self.image_size, self.image_size, 3), tf.float32),
            "token_ids": tf.TensorSpec((self.batch_size, self.sequence_length), tf.int32),
        }
        return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(2)


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
    print(f"Retrieval among {candidates} held-out emoji and their names, none seen in training:")
    for key in sorted(key for key in metrics if "recall@" in key):
        k = int(key.split("@")[1])
        print(f"  {key:16s} {metrics[key]:6.1%}   (chance {k / candidates:.1%})")
    print(f"Training took {metrics['train_seconds']:.0f} s.")


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "train":
        train(args)
    elif args.command == "convert":
        convert(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
