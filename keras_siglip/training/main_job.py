"""The main job: train a SigLIP (from scratch or from a preset) and evaluate it.

What `keras-siglip train` runs. It trains on the embedded dataset (OpenMoji emoji
named in words, and handwritten digits; `keras_siglip.data.load_emoji`) or, with
`data`, on a corpus on disk (`keras_siglip.data.open_corpus`); from scratch with a
SentencePiece vocabulary trained on the captions, or with `init_from` from a preset
(its weights, tokenizer, image size and text length: `prepare_fine_tuning`). It
evaluates zero-shot classification of held-out digits and retrieval among held-out
emoji (`keras_siglip.evaluation.held_out`; with `data` only when `eval_embedded`),
and with `data` retrieval among pairs of the user's corpus held out of training
(`validation_fraction`, by a hash of each sample's key: `keras_siglip.data.HoldOut`)
or of `validation_data`. It writes a preset directory and `metrics.json` to
`output_dir`.

The output directory is checked and locked before anything else
(`RunDirectory`). With `checkpoint_every`, resumable checkpoints go to
`output_dir/checkpoints` (`keras_siglip.training.checkpoints`); `resume` continues
the last one. A resumed run must have the same settings (the total `steps`
included) except `resume`, `output_dir`, `checkpoint_every` and
`keep_checkpoints`. On the embedded data it draws exactly the batches the
uninterrupted run would have drawn (`ResumableBatches`); on a corpus the shuffle
is reseeded with the resumed step (a `tf.data` pipeline cannot be fast-forwarded
to a position), so the resumed run sees the corpus in another order.

A loss or weights that stop being finite end the run with a
`NonFiniteTrainingError` naming the step; nothing is saved then.
"""

import dataclasses
import json
import os
import string
import tempfile
import time

import keras
import numpy as np

from keras_siglip.data import corpus_captions, corpus_files, open_corpus
from keras_siglip.data.emoji import ATTRIBUTION, augment, load_emoji
from keras_siglip.data.emoji_batches import TrainingStream
from keras_siglip.data.holdout import (
    DEFAULT_VALIDATION_CAP,
    DEFAULT_VALIDATION_FRACTION,
    HoldOut,
)
from keras_siglip.evaluation.embedding import augmented_image_encoder, compiled_encoder
from keras_siglip.evaluation.held_out import ZERO_SHOT_TEMPLATES, HeldOutEvaluation
from keras_siglip.evaluation.validation import held_out_retrieval_metrics
from keras_siglip.model import SigLIP
from keras_siglip.preprocessing import (
    SigLIPPreprocessor,
    SigLIPTokenizer,
    train_sentencepiece,
)
from keras_siglip.training.checkpoints import (
    CheckpointCallback,
    ResumableBatches,
    checkpoint_directory,
    latest_checkpoint,
    restore,
    resume_fit_arguments,
)
from keras_siglip.training.fine_tune import prepare_fine_tuning
from keras_siglip.training.non_finite import (
    NonFiniteTrainingError,
    StopOnNonFiniteLoss,
    non_finite_variables,
)
from keras_siglip.training.progress import TrainingProgress
from keras_siglip.training.run_directory import OutputDirectoryError, RunDirectory

__all__ = [
    "DATASETS",
    "ConfigError",
    "NonFiniteTrainingError",
    "TrainingConfig",
    "print_report",
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
# A model from scratch, unless told otherwise; with `init_from`, the preset's.
DEFAULT_VARIANT = "Nano-i5t1/8"
DEFAULT_IMAGE_SIZE = 32
DEFAULT_SEQUENCE_LENGTH = 16
# Settings a resumed run may change: where it is, and how it checkpoints.
RESUMABLE_CHANGES = ("resume", "output_dir", "checkpoint_every", "keep_checkpoints")
METRICS_FILE = "metrics.json"
VALIDATION_BATCH_SIZE = 256


@dataclasses.dataclass
class TrainingConfig:
    """The settings of the main job; `keras-siglip train --help` explains each
    (`batch_size` is `--batch-size`, and so on). The defaults are the command's.

    `image_size`, `sequence_length` and `variant` left at `None` mean 32, 16 and
    "Nano-i5t1/8" from scratch, and the preset's with `init_from` (which refuses
    values that contradict the preset). `validation_fraction` `None` means 2% of
    `data` (at most 2,000 pairs evaluated) unless `validation_data` is given.
    """

    dataset: str = "emoji"
    steps: int = 1800
    batch_size: int = 128
    image_size: int = None
    variant: str = None
    loss: str = "sigmoid"
    learning_rate: float = 1e-3
    temperature_and_bias_learning_rate_multiplier: float = 10.0
    weight_decay: float = 1e-4
    vocabulary_size: int = None
    sequence_length: int = None
    held_out: int = 300
    held_out_split: str = "known-words"
    eval_augmentations: int = 32
    seed: int = 0
    output_dir: str = "runs/siglip"
    data: str = None
    image_root: str = None
    shuffle_buffer: int = 1000
    init_from: str = None
    locked_towers: str = None
    checkpoint_every: int = None
    keep_checkpoints: int = 3
    resume: bool = False
    validation_fraction: float = None
    validation_data: str = None
    eval_embedded: bool = False


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
            arguments of `keras-siglip train`); a missing attribute takes the
            `TrainingConfig` default.

    Raises:
        ConfigError: a setting that cannot work: `config.data` names no readable
            corpus, settings contradict the preset of `init_from`, the output
            directory is a file, not writable or locked by another run, `resume`
            finds no checkpoint or one of a run with other settings...
        NonFiniteTrainingError: the loss or the weights became NaN or infinite
            (nothing is saved).
    """
    config = _as_config(config)
    _check_settings(config)
    if config.data:
        _check_corpus(config, "data")
        # TensorFlow's own arena for the pipeline's images instead of a `malloc` per
        # image: steadier and faster on 2 cores (`benchmarks/input_pipeline.py`). It must be
        # chosen before TensorFlow's first allocation, which this command has not made
        # yet; `TF_CPU_ALLOCATOR_USE_BFC=false` in the environment keeps the default.
        os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    if config.validation_data:
        _check_corpus(config, "validation_data")
    run_directory = RunDirectory(config.output_dir)
    try:
        run_directory.acquire()
    except OutputDirectoryError as error:
        raise ConfigError("{output_dir} " + _literal(error)) from None
    try:
        return _run_locked(config)
    finally:
        run_directory.release()


def _run_locked(config):
    checkpoint = _checkpoint_to_resume(config)
    metrics_path = os.path.join(config.output_dir, METRICS_FILE)
    if checkpoint is not None and checkpoint.step >= config.steps:
        finished = _read_metrics(metrics_path)
        if finished.get("steps") == config.steps:
            print(
                f"The run in {config.output_dir} already took its {config.steps} steps "
                f"(checkpoint {checkpoint.path}) and saved its preset: nothing to train."
            )
            return finished
        print(f"The run took its {config.steps} steps but did not save: evaluating and saving it.")
    resumed_step = checkpoint.step if checkpoint is not None else 0
    keras.utils.set_random_seed(config.seed + resumed_step)
    start = time.perf_counter()
    if config.init_from:
        # First: a setting that contradicts the preset is refused before the slow parts.
        model, preprocessor = _fine_tuning_model(config)
    embedded = not config.data or config.eval_embedded
    data = _load_embedded(config) if embedded else None
    corpus_texts = None
    if config.data and embedded:
        corpus_texts = _corpus_captions(config)

    if not config.init_from:
        if checkpoint is not None:
            preprocessor = checkpoint.preprocessor()
        else:
            preprocessor = _train_preprocessor(config, data, corpus_texts)
        model = _model_from_scratch(config, preprocessor)
    tokenizer = preprocessor.tokenizer
    model.compile(
        loss=config.loss,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=max(1, config.steps // 20),
        decay_steps=config.steps,
        temperature_and_bias_learning_rate_multiplier=config.temperature_and_bias_learning_rate_multiplier,
    )
    if checkpoint is not None:
        restore(model, checkpoint)
        print(f"Resumed from {checkpoint.path} at step {resumed_step} of {config.steps}.")

    hold_out = _hold_out(config)
    dataset, skipped, data_position = _training_batches(
        config, data, preprocessor, hold_out, checkpoint
    )
    progress = TrainingProgress(
        config.steps,
        initial_step=min(resumed_step, config.steps - 1),
        checkpoint_directory=(
            checkpoint_directory(config.output_dir) if config.checkpoint_every else None
        ),
        checkpoint_every=config.checkpoint_every,
        skipped=skipped,
    )
    callbacks = [StopOnNonFiniteLoss(initial_step=resumed_step)]
    if config.checkpoint_every:
        callbacks.append(
            CheckpointCallback(
                checkpoint_directory(config.output_dir),
                config.checkpoint_every,
                total_steps=config.steps,
                initial_step=resumed_step,
                data_position=data_position,
                preprocessor=preprocessor,
                arguments=_resume_arguments(config),
                keep=config.keep_checkpoints,
                on_save=progress.checkpoint_saved,
            )
        )
    callbacks.append(progress)
    print(f"Preparing took {time.perf_counter() - start:.0f} s.")
    train_start = time.perf_counter()
    if resumed_step < config.steps:
        print(
            f"Training for {config.steps - resumed_step} steps of {config.batch_size} pairs"
            + (f" (steps {resumed_step + 1} to {config.steps}):" if resumed_step else ":"),
            flush=True,
        )
        model.fit(
            dataset, shuffle=False, verbose=0, callbacks=callbacks,
            **resume_fit_arguments(config.steps, resumed_step),
        )
    train_seconds = time.perf_counter() - train_start
    broken = non_finite_variables(model)
    if broken:
        raise NonFiniteTrainingError(
            f"After step {config.steps}, {len(broken)} weights hold NaN or infinity "
            f"({', '.join(broken[:3])}{', ...' if len(broken) > 3 else ''}); nothing was saved "
            "(lower the learning rate, or look for NaN in the data).",
            config.steps,
        )
    if skipped is not None:
        print(f"Corpus {config.data}: {skipped}.")

    metrics = {}
    if embedded:
        trained_captions = corpus_texts if config.data else data.training_captions()
        metrics.update(_embedded_metrics(config, data, model, tokenizer, trained_captions))
    if hold_out is not None or config.validation_data:
        metrics.update(_validation_metrics(config, model, preprocessor, hold_out))
    metrics.update(
        {
            "steps": config.steps,
            "resumed_from_step": resumed_step if checkpoint is not None else None,
            "train_seconds": round(train_seconds, 1),
        }
    )
    if skipped is not None:
        metrics["corpus_samples_read"] = skipped.read
        metrics["corpus_samples_skipped"] = skipped.skipped
        metrics["corpus_skipped_by_reason"] = skipped.counts()
    print_report(metrics)
    trained_on = f"the corpus {config.data}" if config.data else f"the embedded '{config.dataset}' dataset"
    if config.init_from:
        description = f"SigLIP fine-tuned from {config.init_from} by `keras-siglip train` on {trained_on}."
    else:
        description = f"SigLIP {_variant(config)} trained by `keras-siglip train` on {trained_on}."
    model.save_to_preset(
        config.output_dir,
        preprocessor=preprocessor,
        description=description,
        metadata={"training": _settings(config) | {"attribution": ATTRIBUTION}, "metrics": metrics},
    )
    _write_json_atomically(metrics_path, metrics)
    print(f"Saved the preset and metrics.json to {config.output_dir}; load it with SigLIP.from_preset({config.output_dir!r}).")
    return metrics


def _as_config(config):
    if isinstance(config, TrainingConfig):
        return config
    defaults = TrainingConfig()
    return TrainingConfig(
        **{
            field.name: getattr(config, field.name, getattr(defaults, field.name))
            for field in dataclasses.fields(TrainingConfig)
        }
    )


def _variant(config):
    return config.variant or DEFAULT_VARIANT


def _check_settings(config):
    if config.init_from:
        if config.variant is not None:
            raise ConfigError(
                "{variant} cannot be given with {init_from}: the preset fixes the architecture."
            )
    elif config.locked_towers:
        raise ConfigError(
            "{locked_towers} locks a pretrained tower (LiT) and needs {init_from}: a tower "
            "from scratch would stay random."
        )
    if config.locked_towers not in (None, "image", "text"):
        raise ConfigError(
            "{locked_towers} must be 'image' or 'text', got " + _literal(repr(config.locked_towers))
        )
    fraction = config.validation_fraction
    if fraction is not None:
        if not config.data:
            raise ConfigError("{validation_fraction} holds out pairs of {data}: give {data} too.")
        if config.validation_data:
            raise ConfigError(
                "{validation_fraction} and {validation_data} both choose the validation pairs; "
                "give one."
            )
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise ConfigError(
                "{validation_fraction} must be a number in [0, 1) (the share of pairs held out), "
                f"got {fraction!r}"
            )
    if config.resume and not config.checkpoint_every:
        print("Resuming without --checkpoint-every: the rest of the run writes no checkpoint.")


def _checkpoint_to_resume(config):
    """The checkpoint `config.resume` continues, or `None` for a fresh run."""
    directory = checkpoint_directory(config.output_dir)
    checkpoint = latest_checkpoint(directory)
    if not config.resume:
        if checkpoint is not None:
            raise ConfigError(
                "{output_dir} " + _literal(repr(config.output_dir)) + " holds checkpoints of an "
                f"earlier run (the last at step {checkpoint.step}); pass {{resume}} to continue "
                "it, or choose another directory."
            )
        return None
    if checkpoint is None:
        raise ConfigError(
            "{resume}: " + _literal(f"{directory!r} holds no checkpoint to resume")
            + " (a run writes them with {checkpoint_every})."
        )
    stored = checkpoint.arguments or {}
    current = _resume_arguments(config)
    differences = [
        "{" + name + "} " + _literal(f"{stored.get(name)!r} there, {current[name]!r} now")
        for name in current
        if stored.get(name, current[name]) != current[name]
    ]
    if differences:
        raise ConfigError(
            "{resume}: the checkpoints in " + _literal(repr(directory)) + " are of a run with "
            "other settings: " + "; ".join(differences) + ". Resume with the same settings "
            "(the same total {steps} included)."
        )
    return checkpoint


def _resume_arguments(config):
    """The settings a resumed run must share with the run it continues (JSON)."""
    settings = dataclasses.asdict(config)
    return {name: value for name, value in settings.items() if name not in RESUMABLE_CHANGES}


def _load_embedded(config):
    print(f"Drawing the '{config.dataset}' dataset (OpenMoji emoji and scikit-learn digits)...", flush=True)
    languages, _ = DATASETS[config.dataset]
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
    return data


def _train_preprocessor(config, data, corpus_texts):
    """A SentencePiece vocabulary trained on the training captions, and its preprocessor."""
    _, default_vocabulary_size = DATASETS[config.dataset]
    vocabulary_size = config.vocabulary_size or default_vocabulary_size
    captions = data.training_captions() if data is not None else []
    if config.data:
        if corpus_texts is None:
            corpus_texts = _corpus_captions(config)
        print(f"  read {len(corpus_texts):,} captions of the corpus {config.data} for the vocabulary")
        captions = corpus_texts + captions
    vocabulary = train_sentencepiece(captions, vocabulary_size, hard_vocab_limit=False)
    tokenizer = SigLIPTokenizer(
        vocabulary, sequence_length=config.sequence_length or DEFAULT_SEQUENCE_LENGTH
    )
    print(f"  trained a SentencePiece vocabulary of {tokenizer.vocabulary_size} pieces on the training captions")
    return SigLIPPreprocessor(tokenizer, image_size=config.image_size or DEFAULT_IMAGE_SIZE)


def _model_from_scratch(config, preprocessor):
    model = SigLIP.from_variant(
        _variant(config),
        image_size=preprocessor.image_size,
        sequence_length=preprocessor.sequence_length,
        vocabulary_size=preprocessor.tokenizer.vocabulary_size,
    )
    print(f"SigLIP {_variant(config)}: {model.count_params():,} parameters, backend {keras.backend.backend()}.")
    return model


def _fine_tuning_model(config):
    """The preset's model and preprocessor; settings that contradict it are refused."""
    fixed = ("image_size", "sequence_length", "vocabulary_size", "locked_towers")
    # Placeholders that become `{name}` fields of the ConfigError.
    placeholders = {name: f"\x00{name}\x00" for name in fixed}
    try:
        model, preprocessor = prepare_fine_tuning(
            config.init_from,
            image_size=config.image_size,
            sequence_length=config.sequence_length,
            vocabulary_size=config.vocabulary_size,
            locked_towers=config.locked_towers,
            argument_names=placeholders,
        )
    except (ValueError, FileNotFoundError, OSError) as error:
        message = _literal(error)
        for name, placeholder in placeholders.items():
            message = message.replace(f"`{placeholder}`", "{" + name + "}")
        raise ConfigError("{init_from}: " + message) from None
    locked = f", locked towers: {', '.join(model.locked_towers)}" if model.locked_towers else ""
    print(
        f"Fine-tuning {config.init_from}: {model.count_params():,} parameters, "
        f"{model.image_size}-pixel images, {model.sequence_length} tokens{locked}, "
        f"backend {keras.backend.backend()}."
    )
    return model, preprocessor


def _hold_out(config):
    """The validation hold-out of `config.data`, or `None`."""
    if not config.data or config.validation_data:
        return None
    fraction = config.validation_fraction
    fraction = DEFAULT_VALIDATION_FRACTION if fraction is None else fraction
    return HoldOut(fraction) if fraction > 0 else None


def _training_batches(config, data, preprocessor, hold_out, checkpoint):
    """`(batches for fit, SkippedSamples or None, data_position function)`."""
    if not config.data:
        stream = TrainingStream(data, preprocessor, config.batch_size, config.seed)
        position = checkpoint.data_position.get("stream") if checkpoint is not None else None
        # The stream draws from its own generator, which ResumableBatches records and sets.
        batches = ResumableBatches(lambda rng: stream.batch(), stream.rng, position=position)
        return batches.batches(), None, lambda step: {"stream": batches.position(step)}
    resumed_step = checkpoint.step if checkpoint is not None else 0
    # A tf.data pipeline cannot be moved to a position: a resumed run reshuffles with
    # a seed of its own (the run's seed and the step), and so reads another order.
    seed = int(np.random.SeedSequence([config.seed, resumed_step]).generate_state(1)[0] >> 1)
    seed = config.seed if resumed_step == 0 else seed
    try:
        dataset = open_corpus(
            config.data, preprocessor, config.batch_size, image_root=config.image_root,
            shuffle_buffer=config.shuffle_buffer, repeat=True, seed=seed,
            keep=hold_out.keep if hold_out is not None else None,
        )
    except (ValueError, FileNotFoundError, ImportError) as error:
        raise ConfigError("{data}: " + _literal(error)) from None
    return dataset, dataset.skipped, lambda step: {"corpus_seed": seed}


def _embedded_metrics(config, data, model, tokenizer, trained_captions):
    evaluation = HeldOutEvaluation(data, model, tokenizer, model.image_size, trained_captions)
    encode_images = compiled_encoder(model.image_encoder)
    if config.eval_augmentations:
        augmented = augmented_image_encoder(encode_images, augment, config.eval_augmentations, seed=config.seed)
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


def _validation_metrics(config, model, preprocessor, hold_out):
    """Retrieval among the held-out pairs (at most `DEFAULT_VALIDATION_CAP` of them)."""
    source = config.validation_data or config.data
    try:
        dataset = open_corpus(
            source, preprocessor, VALIDATION_BATCH_SIZE,
            image_root=config.image_root if not config.validation_data else None,
            keep=hold_out.is_validation if hold_out is not None else None,
            repeat=False, shuffle_buffer=0, drop_remainder=False,
        )
    except (ValueError, FileNotFoundError, ImportError) as error:
        name = "validation_data" if config.validation_data else "data"
        raise ConfigError("{" + name + "}: " + _literal(error)) from None

    def capped(batches):
        remaining = DEFAULT_VALIDATION_CAP
        for batch in batches:
            if remaining <= 0:
                return
            yield {key: value[:remaining] for key, value in batch.items()}
            remaining -= len(batch["token_ids"])

    try:
        metrics = held_out_retrieval_metrics(model, capped(dataset.as_numpy_iterator()))
    except ValueError:
        print(f"Warning: no validation pair could be read from {source}; no validation metrics.")
        metrics = {"validation_samples": 0}
        metrics.update({f"validation_{key}": None for key in SINGLE_VIEW_KEYS[1:]})
    if hold_out is not None:
        metrics["validation_fraction"] = hold_out.fraction
    else:
        metrics["validation_data"] = config.validation_data
    return metrics


def _read_metrics(path):
    try:
        with open(path, encoding="utf-8") as file:
            metrics = json.load(file)
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def _write_json_atomically(path, value):
    folder = os.path.dirname(os.path.abspath(path))
    handle, scratch = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.partial-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(value, file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(scratch, path)
    finally:
        if os.path.exists(scratch):
            os.remove(scratch)


def _settings(config):
    """The settings recorded in the preset's metadata."""
    return dataclasses.asdict(config)


def _literal(text):
    """`text` inside a `ConfigError` template, its braces taken literally."""
    return str(text).replace("{", "{{").replace("}", "}}")


def _check_corpus(config, name):
    """Checks the corpus named by the setting `name` ("data" or "validation_data")."""
    path = getattr(config, name)
    try:
        corpus_format, files = corpus_files(path)
    except (ValueError, FileNotFoundError) as error:
        raise ConfigError("{" + name + "}: " + _literal(error)) from None
    if name == "data" and config.image_root is not None and corpus_format != "caption_table":
        raise ConfigError(
            "{image_root} is for caption tables, but {data} "
            + _literal(f"{path!r} holds {corpus_format} files, which carry their images.")
        )
    role = "Training" if name == "data" else "Validating"
    print(f"{role} on {len(files)} {corpus_format} file(s) from {path}.", flush=True)


def _corpus_captions(config):
    try:
        return corpus_captions(config.data, limit=VOCABULARY_CORPUS_CAPTIONS)
    except (ValueError, FileNotFoundError, ImportError) as error:
        raise ConfigError("{data}: " + _literal(error)) from None


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
