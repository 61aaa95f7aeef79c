"""The main job: train a small SigLIP from scratch and evaluate it on held-out data.

What `keras-siglip train` runs. It trains on the embedded dataset (OpenMoji emoji
named in words, and handwritten digits; `keras_siglip.data.load_emoji`) or, with
`data`, on a corpus on disk (`keras_siglip.data.open_corpus`); evaluates
zero-shot classification of held-out digits and retrieval among held-out emoji
(`keras_siglip.evaluation.held_out`); and writes a preset directory and
`metrics.json` to `output_dir`.
"""

import dataclasses
import json
import os
import string
import time

import keras

from keras_siglip.data import corpus_captions, corpus_files, open_corpus
from keras_siglip.data.emoji import ATTRIBUTION, augment, load_emoji
from keras_siglip.data.emoji_batches import TrainingStream
from keras_siglip.evaluation.embedding import augmented_image_encoder, compiled_encoder
from keras_siglip.evaluation.held_out import ZERO_SHOT_TEMPLATES, HeldOutEvaluation
from keras_siglip.model import SigLIP
from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer, train_sentencepiece

__all__ = [
    "DATASETS",
    "ConfigError",
    "TrainingConfig",
    "print_report",
    "progress_report",
    "run_training",
]

# Each dataset: the caption languages, and the default vocabulary size (the Chinese,
# Japanese and Korean names alone need more than 2,000 single-character pieces).
DATASETS = {
    "emoji": (("en",), 1000),
    # Captions in every language of the `emoji` package; evaluation stays English.
    "emoji-multilingual": (("en", "es", "ja", "ko", "pt", "it", "fr", "de", "fa", "id", "zh", "ru", "tr", "ar"), 4000),
}
# Captions of a corpus (with `data`) the vocabulary is trained on, next to the
# embedded training captions that evaluation needs.
VOCABULARY_CORPUS_CAPTIONS = 20000
RENDER_SIZE = 64
# The metrics `eval_augmentations` also reports for the plain images, as `single_view_*`.
SINGLE_VIEW_KEYS = ("zero_shot_top1", "i2t_recall@1", "t2i_recall@1", "i2t_recall@5", "t2i_recall@5")


@dataclasses.dataclass
class TrainingConfig:
    """The settings of the main job; `keras-siglip train --help` explains each
    (`batch_size` is `--batch-size`, and so on). The defaults are the command's."""

    dataset: str = "emoji"
    steps: int = 1800
    batch_size: int = 128
    image_size: int = 32
    variant: str = "Nano-i5t1/8"
    loss: str = "sigmoid"
    learning_rate: float = 1e-3
    temperature_and_bias_learning_rate_multiplier: float = 10.0
    weight_decay: float = 1e-4
    vocabulary_size: int = None
    sequence_length: int = 16
    held_out: int = 300
    held_out_split: str = "known-words"
    eval_augmentations: int = 32
    seed: int = 0
    output_dir: str = "runs/siglip"
    data: str = None
    image_root: str = None
    shuffle_buffer: int = 1000


class ConfigError(ValueError):
    """A setting that cannot work. The message names settings as `{name}` fields, so
    the library names them `name` and the command line `--name` (`message`)."""

    def __init__(self, template):
        self.template = template
        super().__init__(self.message(lambda name: f"`{name}`"))

    def message(self, spell):
        """The message, each setting named by `spell(name)`."""
        names = {field for _, field, _, _ in string.Formatter().parse(self.template) if field}
        return self.template.format(**{name: spell(name) for name in names})


def run_training(config):
    """Run the main job; see the module docstring. Returns the metrics (a dict).

    Args:
        config: a `TrainingConfig`, or any object with its attributes (the parsed
            arguments of `keras-siglip train`).

    Raises:
        ConfigError: `config.data` names no readable corpus, or `config.image_root`
            is given for a corpus that carries its images.
    """
    if config.data:
        _check_corpus(config)
        # TensorFlow's own arena for the pipeline's images instead of a `malloc` per
        # image: steadier and faster on 2 cores (`benchmarks/input_pipeline.py`). It must be
        # chosen before TensorFlow's first allocation, which this command has not made
        # yet; `TF_CPU_ALLOCATOR_USE_BFC=false` in the environment keeps the default.
        os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    keras.utils.set_random_seed(config.seed)
    start = time.perf_counter()
    print(f"Drawing the '{config.dataset}' dataset (OpenMoji emoji and scikit-learn digits)...", flush=True)
    languages, default_vocabulary_size = DATASETS[config.dataset]
    data = load_emoji(
        seed=config.seed,
        num_held_out=config.held_out,
        render_size=RENDER_SIZE,
        languages=languages,
        held_out_split=config.held_out_split,
    )
    print(
        f"  {len(data.train)} training emoji, {len(data.test)} held-out emoji; "
        f"{len(data.digits_train)} training digits, {len(data.digits_test)} held-out digits",
        flush=True,
    )
    vocabulary_size = config.vocabulary_size or default_vocabulary_size
    captions = data.training_captions()
    if config.data:
        corpus_texts = _corpus_captions(config)
        print(f"  read {len(corpus_texts):,} captions of the corpus {config.data} for the vocabulary")
        captions = corpus_texts + captions
    vocabulary = train_sentencepiece(captions, vocabulary_size, hard_vocab_limit=False)
    tokenizer = SigLIPTokenizer(vocabulary, sequence_length=config.sequence_length)
    preprocessor = SigLIPPreprocessor(tokenizer, image_size=config.image_size)
    print(f"  trained a SentencePiece vocabulary of {tokenizer.vocabulary_size} pieces on the training captions")

    if config.data:
        dataset = _corpus_dataset(config, preprocessor)
        skipped = dataset.skipped
    else:
        dataset = TrainingStream(data, preprocessor, config.batch_size, config.seed).batches()
        skipped = None
    model = SigLIP.from_variant(
        config.variant,
        image_size=config.image_size,
        sequence_length=config.sequence_length,
        vocabulary_size=tokenizer.vocabulary_size,
    )
    print(f"SigLIP {config.variant}: {model.count_params():,} parameters, backend {keras.backend.backend()}.")
    model.compile(
        loss=config.loss,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=max(1, config.steps // 20),
        decay_steps=config.steps,
        temperature_and_bias_learning_rate_multiplier=config.temperature_and_bias_learning_rate_multiplier,
    )
    print(f"Preparing took {time.perf_counter() - start:.0f} s. Training for {config.steps} steps of {config.batch_size} pairs:")
    train_start = time.perf_counter()
    model.fit(
        dataset, steps_per_epoch=config.steps, epochs=1, shuffle=False, verbose=0,
        callbacks=[progress_report(config.steps, skipped=skipped)],
    )
    train_seconds = time.perf_counter() - train_start
    if skipped is not None:
        print(f"Corpus {config.data}: {skipped}.")

    trained_captions = corpus_texts if config.data else data.training_captions()
    evaluation = HeldOutEvaluation(data, model, tokenizer, config.image_size, trained_captions)
    encode_images = compiled_encoder(model.image_encoder)
    if config.eval_augmentations:
        augmented = augmented_image_encoder(encode_images, augment, config.eval_augmentations, seed=config.seed)
        metrics = evaluation(augmented)
        single_view = evaluation(encode_images)
        metrics.update({f"single_view_{key}": single_view[key] for key in SINGLE_VIEW_KEYS})
    else:
        metrics = evaluation(encode_images)
    metrics = {
        **metrics,
        "held_out_split": config.held_out_split,
        "eval_augmentations": config.eval_augmentations,
        "train_seconds": round(train_seconds, 1),
    }
    if skipped is not None:
        metrics["corpus_samples_read"] = skipped.read
        metrics["corpus_samples_skipped"] = skipped.skipped
        metrics["corpus_skipped_by_reason"] = skipped.counts()
    print_report(metrics)
    trained_on = f"the corpus {config.data}" if config.data else f"the embedded '{config.dataset}' dataset"
    model.save_to_preset(
        config.output_dir,
        preprocessor=preprocessor,
        description=f"SigLIP {config.variant} trained by `keras-siglip train` on {trained_on}.",
        metadata={"training": _settings(config) | {"attribution": ATTRIBUTION}, "metrics": metrics},
    )
    with open(os.path.join(config.output_dir, "metrics.json"), "w") as handle:
        json.dump(metrics, handle, indent=2)
    print(f"Saved the preset and metrics.json to {config.output_dir}; load it with SigLIP.from_preset({config.output_dir!r}).")
    return metrics


def _settings(config):
    """The settings recorded in the preset's metadata."""
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(vars(config))


def _literal(text):
    """`text` inside a `ConfigError` template, its braces taken literally."""
    return str(text).replace("{", "{{").replace("}", "}}")


def _check_corpus(config):
    try:
        corpus_format, files = corpus_files(config.data)
    except (ValueError, FileNotFoundError) as error:
        raise ConfigError("{data}: " + _literal(error)) from None
    if config.image_root is not None and corpus_format != "caption_table":
        raise ConfigError(
            "{image_root} is for caption tables, but {data} "
            + _literal(f"{config.data!r} holds {corpus_format} files, which carry their images.")
        )
    print(f"Training on {len(files)} {corpus_format} file(s) from {config.data}.", flush=True)


def _corpus_captions(config):
    try:
        return corpus_captions(config.data, limit=VOCABULARY_CORPUS_CAPTIONS)
    except (ValueError, FileNotFoundError, ImportError) as error:
        raise ConfigError("{data}: " + _literal(error)) from None


def _corpus_dataset(config, preprocessor):
    try:
        return open_corpus(
            config.data, preprocessor, config.batch_size, image_root=config.image_root,
            shuffle_buffer=config.shuffle_buffer, repeat=True, seed=config.seed,
        )
    except (ValueError, FileNotFoundError, ImportError) as error:
        raise ConfigError("{data}: " + _literal(error)) from None


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


def print_report(metrics):
    """Print the metrics of `run_training`, each number next to its chance level."""
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
