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
import tempfile
import time

import keras
import tensorflow as tf

from keras_siglip.data.corpus import no_usable_sample_error
from keras_siglip.data.emoji import ATTRIBUTION
from keras_siglip.training.checkpoints import (
    CheckpointCallback,
    checkpoint_directory,
    restore,
    resume_fit_arguments,
)
from keras_siglip.training.main_job_config import (
    DATASETS,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_SEQUENCE_LENGTH,
    DEFAULT_VARIANT,
    RENDER_SIZE,
    ConfigError,
    TrainingConfig,
    as_config,
    check_settings,
    literal,
    resume_arguments,
    variant_name,
)
from keras_siglip.training.main_job_data import (
    check_corpus,
    load_embedded,
    training_batches,
    validation_hold_out,
    vocabulary_corpus_captions,
)
from keras_siglip.training.main_job_metrics import (
    embedded_metrics,
    print_report,
    validation_metrics,
)
from keras_siglip.training.main_job_setup import (
    checkpoint_to_resume,
    fine_tuning_model,
    model_from_scratch,
    train_preprocessor,
)
from keras_siglip.training.non_finite import (
    NonFiniteTrainingError,
    StopOnNonFiniteLoss,
    non_finite_variables,
)
from keras_siglip.training.progress import TrainingProgress
from keras_siglip.training.run_directory import OutputDirectoryError, RunDirectory

__all__ = [
    "DATASETS",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_SEQUENCE_LENGTH",
    "DEFAULT_VARIANT",
    "RENDER_SIZE",
    "ConfigError",
    "NonFiniteTrainingError",
    "TrainingConfig",
    "print_report",
    "run_training",
]

METRICS_FILE = "metrics.json"


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
    config = as_config(config)
    check_settings(config)
    if config.data:
        check_corpus(config, "data")
        # TensorFlow's own arena for the pipeline's images instead of a `malloc` per
        # image: steadier and faster on 2 cores (`benchmarks/input_pipeline.py`). It must be
        # chosen before TensorFlow's first allocation, which this command has not made
        # yet; `TF_CPU_ALLOCATOR_USE_BFC=false` in the environment keeps the default.
        os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    if config.validation_data:
        check_corpus(config, "validation_data")
    run_directory = RunDirectory(config.output_dir)
    try:
        run_directory.acquire()
    except OutputDirectoryError as error:
        raise ConfigError("{output_dir} " + literal(error)) from None
    try:
        return _run_locked(config)
    finally:
        run_directory.release()


def _run_locked(config):
    checkpoint = checkpoint_to_resume(config)
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
        model, preprocessor = fine_tuning_model(config)
    embedded = not config.data or config.eval_embedded
    data = load_embedded(config) if embedded else None
    corpus_texts = None
    if config.data and embedded:
        corpus_texts = vocabulary_corpus_captions(config)

    if not config.init_from:
        if checkpoint is not None:
            preprocessor = checkpoint.preprocessor()
        else:
            preprocessor = train_preprocessor(config, data, corpus_texts)
        model = model_from_scratch(config, preprocessor)
    tokenizer = preprocessor.tokenizer
    model.compile(
        loss=config.loss,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=max(1, config.steps // 20),
        decay_steps=config.steps,
        temperature_and_bias_learning_rate_multiplier=(
            config.temperature_and_bias_learning_rate_multiplier
        ),
    )
    if checkpoint is not None:
        restore(model, checkpoint)
        print(f"Resumed from {checkpoint.path} at step {resumed_step} of {config.steps}.")

    hold_out = validation_hold_out(config)
    dataset, skipped, data_position = training_batches(
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
                arguments=resume_arguments(config),
                keep=config.keep_checkpoints,
                on_save=progress.checkpoint_saved,
            )
        )
    callbacks.append(progress)
    if config.data:
        # Stop the corpus's readers before fit lets go of its iterator (see its `close`).
        callbacks.append(keras.callbacks.LambdaCallback(on_train_end=lambda logs: dataset.close()))
    print(f"Preparing took {time.perf_counter() - start:.0f} s.")
    train_start = time.perf_counter()
    if resumed_step < config.steps:
        print(
            f"Training for {config.steps - resumed_step} steps of {config.batch_size} pairs"
            + (f" (steps {resumed_step + 1} to {config.steps}):" if resumed_step else ":"),
            flush=True,
        )
        try:
            model.fit(
                dataset,
                shuffle=False,
                verbose=0,
                callbacks=callbacks,
                **resume_fit_arguments(config.steps, resumed_step),
            )
        except tf.errors.OpError as error:
            # A corpus without a usable sample fails inside tf.data; say so in one line.
            corpus_error = no_usable_sample_error(error)
            if corpus_error is None:
                raise
            raise ConfigError("{data}: " + literal(str(corpus_error))) from None
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
        metrics.update(embedded_metrics(config, data, model, tokenizer, trained_captions))
    if hold_out is not None or config.validation_data:
        metrics.update(validation_metrics(config, model, preprocessor, hold_out))
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
    if config.data:
        trained_on = f"the corpus {config.data}"
    else:
        trained_on = f"the embedded '{config.dataset}' dataset"
    if config.init_from:
        description = (
            f"SigLIP fine-tuned from {config.init_from} by `keras-siglip train` on {trained_on}."
        )
    else:
        description = (
            f"SigLIP {variant_name(config)} trained by `keras-siglip train` on {trained_on}."
        )
    model.save_to_preset(
        config.output_dir,
        preprocessor=preprocessor,
        description=description,
        metadata={
            "training": _settings(config) | {"attribution": ATTRIBUTION},
            "metrics": metrics,
        },
    )
    _write_json_atomically(metrics_path, metrics)
    print(
        f"Saved the preset and metrics.json to {config.output_dir}; "
        f"load it with SigLIP.from_preset({config.output_dir!r})."
    )


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
