"""`keras-siglip`: the command line.

    keras-siglip train [--dataset shapes] [--steps N] [--batch-size N] ...

`train` builds a small SigLIP, trains it with the paper's sigmoid loss on an
embedded dataset, evaluates retrieval on held-out pairs, prints each number next to
chance, and writes the model and `metrics.json` to `--output-dir`.
"""

import argparse
import json
import os
import sys
import time

DATASETS = ("shapes",)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-siglip", description="Train and evaluate SigLIP models with Keras."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train a small SigLIP on an embedded dataset and evaluate it",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    train.add_argument("--dataset", choices=DATASETS, default="shapes", help="embedded dataset to train on")
    train.add_argument("--steps", type=_positive, default=600, help="optimizer steps")
    train.add_argument("--batch-size", type=_positive, default=128, help="pairs per step (the loss batch)")
    train.add_argument("--image-size", type=_positive, default=32, help="image side in pixels")
    train.add_argument("--variant", default="Nano/8", help="tower sizes, NAME/PATCH (e.g. Pico/8, Nano/8, B/16)")
    train.add_argument("--loss", choices=("sigmoid", "softmax"), default="sigmoid", help="contrastive loss")
    train.add_argument("--learning-rate", type=float, default=1e-3, help="peak learning rate")
    train.add_argument("--train-pairs", type=_positive, default=6000, help="training pairs to draw")
    train.add_argument("--seed", type=int, default=0, help="seed of data, split and initialisation")
    train.add_argument("--output-dir", default="runs/siglip", help="where the model and metrics.json go")
    return parser


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def train(args):
    import keras
    import numpy as np

    from keras_siglip import SigLIP
    from keras_siglip.data import shapes
    from keras_siglip.evaluation import retrieval_metrics

    keras.utils.set_random_seed(args.seed)
    sequence_length = 16
    print(f"Drawing the '{args.dataset}' dataset ({args.train_pairs} training pairs)...", flush=True)
    train_split = shapes.load_shapes("train", args.train_pairs, args.image_size, sequence_length, seed=args.seed)
    num_test = int(round(0.2 * len(shapes.all_captions())))
    test_split = shapes.load_shapes("test", num_test, args.image_size, sequence_length, seed=args.seed)
    test_split = _unique_captions(test_split)

    model = SigLIP.from_variant(
        args.variant,
        image_size=args.image_size,
        sequence_length=sequence_length,
        vocabulary_size=len(shapes.VOCABULARY),
    )
    print(f"SigLIP {args.variant}: {model.count_params():,} parameters, backend {keras.backend.backend()}.")
    model.compile(
        loss=args.loss,
        learning_rate=args.learning_rate,
        warmup_steps=max(1, args.steps // 20),
        decay_steps=args.steps,
    )
    dataset = _training_stream(train_split, args.batch_size, args.seed)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=args.steps, epochs=1, shuffle=False, verbose=2 if not sys.stdout.isatty() else 1)
    train_seconds = time.perf_counter() - start

    image_embeddings = np.asarray(keras.ops.convert_to_numpy(model.encode_images(test_split.images)))
    text_embeddings = np.asarray(keras.ops.convert_to_numpy(model.encode_texts(test_split.token_ids)))
    metrics = retrieval_metrics(image_embeddings, text_embeddings)
    metrics["train_seconds"] = round(train_seconds, 1)
    _report(metrics)
    os.makedirs(args.output_dir, exist_ok=True)
    model.save(os.path.join(args.output_dir, "model.keras"))
    with open(os.path.join(args.output_dir, "metrics.json"), "w") as handle:
        json.dump(metrics, handle, indent=2)
    print(f"Saved the model and metrics.json to {args.output_dir}")
    return metrics


def _unique_captions(split):
    import numpy as np

    from keras_siglip.data.shapes import ShapesDataset

    first = {}
    for index, caption in enumerate(split.captions):
        first.setdefault(caption, index)
    keep = np.array(sorted(first.values()))
    return ShapesDataset(split.images[keep], split.token_ids[keep], [split.captions[i] for i in keep])


def _training_stream(split, batch_size, seed):
    """Shuffled, flipped-free batches repeated forever (positions are in the captions)."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(split.inputs())
    dataset = dataset.shuffle(len(split.captions), seed=seed, reshuffle_each_iteration=True)
    return dataset.repeat().batch(batch_size, drop_remainder=True).prefetch(2)


def _report(metrics):
    candidates = metrics["retrieval_candidates"]
    print(f"\nHeld-out retrieval among {candidates} unseen captions and images:")
    for key in sorted(key for key in metrics if "recall@" in key):
        k = int(key.split("@")[1])
        print(f"  {key:16s} {metrics[key]:6.1%}   (chance {k / candidates:.1%})")


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "train":
        train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
