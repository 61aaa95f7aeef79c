"""The main job's metrics after training, and their report next to chance levels.

Zero-shot classification and retrieval on the embedded dataset's held-out items
(`keras_siglip.evaluation.held_out`), and retrieval among the validation pairs of
a corpus (`keras_siglip.evaluation.validation`).
"""

from keras_siglip.data.emoji import augment
from keras_siglip.data.holdout import DEFAULT_VALIDATION_CAP
from keras_siglip.evaluation.embedding import augmented_image_encoder, compiled_encoder
from keras_siglip.evaluation.held_out import ZERO_SHOT_TEMPLATES, HeldOutEvaluation
from keras_siglip.evaluation.validation import held_out_retrieval_metrics
from keras_siglip.training.main_job_data import validation_dataset

__all__ = [
    "SINGLE_VIEW_KEYS",
    "embedded_metrics",
    "print_report",
    "validation_metrics",
]

# The metrics `eval_augmentations` also reports for the plain images, as `single_view_*`.
SINGLE_VIEW_KEYS = (
    "zero_shot_top1",
    "i2t_recall@1",
    "t2i_recall@1",
    "i2t_recall@5",
    "t2i_recall@5",
)


def embedded_metrics(config, data, model, tokenizer, trained_captions):
    """Zero-shot classification and retrieval among the embedded held-out items."""
    evaluation = HeldOutEvaluation(data, model, tokenizer, model.image_size, trained_captions)
    encode_images = compiled_encoder(model.image_encoder)
    if config.eval_augmentations:
        augmented = augmented_image_encoder(
            encode_images, augment, config.eval_augmentations, seed=config.seed
        )
        metrics = evaluation(augmented)
        single_view = evaluation(encode_images)
        metrics.update({f"single_view_{key}": single_view[key] for key in SINGLE_VIEW_KEYS})
    else:
        metrics = evaluation(encode_images)
    return {
        **metrics,
        "held_out_split": config.held_out_split,
        "eval_augmentations": config.eval_augmentations,
    }


def validation_metrics(config, model, preprocessor, hold_out):
    """Retrieval among the held-out pairs (at most `DEFAULT_VALIDATION_CAP` of them)."""
    source = config.validation_data or config.data
    dataset = validation_dataset(config, preprocessor, hold_out)

    def capped(batches):
        remaining = DEFAULT_VALIDATION_CAP
        for batch in batches:
            if remaining <= 0:
                return
            yield {key: value[:remaining] for key, value in batch.items()}
            remaining -= len(batch["token_ids"])

    try:
        batches = dataset.as_numpy_iterator()
        metrics = held_out_retrieval_metrics(model, capped(batches))
        # The cap may leave the corpus half read: stop its readers before the
        # iterator goes (see the corpus's `close`).
        dataset.close()
        del batches
    except ValueError:
        print(f"Warning: no validation pair could be read from {source}; no validation metrics.")
        metrics = {"validation_samples": 0}
        metrics.update({f"validation_{key}": None for key in SINGLE_VIEW_KEYS[1:]})
    if hold_out is not None:
        metrics["validation_fraction"] = hold_out.fraction
    else:
        metrics["validation_data"] = config.validation_data
    return metrics


def print_report(metrics):
    """Print the metrics of `run_training`, each number next to its chance level."""
    if "zero_shot_top1" in metrics:
        _print_embedded_report(metrics)
    if "validation_samples" in metrics:
        _print_validation_report(metrics)
    resumed = metrics.get("resumed_from_step")
    resumed = f" (resumed at step {resumed})" if resumed is not None else ""
    print(f"Training took {metrics['train_seconds']:.0f} s for {metrics['steps']} steps{resumed}.")


def _print_validation_report(metrics):
    samples = metrics["validation_samples"]
    if "validation_fraction" in metrics:
        source = f"{metrics['validation_fraction']:.2%} of the corpus, held out of training"
    else:
        source = metrics.get("validation_data")
    print(f"Retrieval among {samples} validation pairs ({source}):")
    for key in sorted(key for key in metrics if key.startswith("validation_") and "recall@" in key):
        if metrics[key] is None:
            continue
        k = int(key.split("@")[1])
        print(f"  {key:26s} {metrics[key]:6.1%}   (chance {min(1.0, k / samples):.1%})")


def _print_embedded_report(metrics):
    print(
        f"\nZero-shot classification of {metrics['zero_shot_examples']} held-out digit images "
        f"(prompts such as '{ZERO_SHOT_TEMPLATES[0].format('seven')}'):"
    )
    print(
        f"  {'zero_shot_top1':16s} {metrics['zero_shot_top1']:6.1%}   "
        f"(chance {metrics['zero_shot_chance']:.1%})"
    )
    candidates = metrics["retrieval_candidates"]
    drawn = {
        "known-words": "drawn among those whose words training captions use",
        "random": "drawn at random",
    }
    print(
        f"Retrieval among {candidates} held-out emoji and their names, none seen in training "
        f"({drawn[metrics['held_out_split']]}):"
    )
    for key in sorted(key for key in metrics if key.startswith(("i2t_recall@", "t2i_recall@"))):
        k = int(key.split("@")[1])
        print(f"  {key:16s} {metrics[key]:6.1%}   (chance {k / candidates:.1%})")
    for prefix, words in (
        ("known_words", "only words that training captions use"),
        ("new_words", "a word no training caption uses"),
    ):
        keys = sorted(key for key in metrics if key.startswith(prefix + "_") and "recall@" in key)
        if keys and metrics[prefix + "_items"] < candidates:  # a line only when the names split
            values = ", ".join(f"{key[len(prefix) + 1 :]} {metrics[key]:.1%}" for key in keys)
            print(f"  {metrics[prefix + '_items']} names with {words}: {values}")
    if metrics["eval_augmentations"]:
        single = ", ".join(f"{key} {metrics['single_view_' + key]:.1%}" for key in SINGLE_VIEW_KEYS)
        print(
            f"Each held-out image was embedded as the mean of it and "
            f"{metrics['eval_augmentations']} copies augmented as in training; "
            f"the images alone give {single}."
        )
