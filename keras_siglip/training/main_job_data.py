"""The main job's data: the embedded dataset, the corpus on disk, the training
batches drawn from either, and the validation pairs held out of a corpus.

A corpus that cannot be read is a `ConfigError` naming the setting that named it.
"""

import numpy as np

from keras_siglip.data import corpus_captions, corpus_files, open_corpus
from keras_siglip.data.emoji import load_emoji
from keras_siglip.data.emoji_batches import TrainingStream
from keras_siglip.data.holdout import DEFAULT_VALIDATION_FRACTION, HoldOut
from keras_siglip.training.checkpoints import ResumableBatches
from keras_siglip.training.main_job_config import (
    DATASETS,
    RENDER_SIZE,
    ConfigError,
    literal,
)

__all__ = [
    "VALIDATION_BATCH_SIZE",
    "VOCABULARY_CORPUS_CAPTIONS",
    "check_corpus",
    "load_embedded",
    "training_batches",
    "validation_dataset",
    "validation_hold_out",
    "vocabulary_corpus_captions",
]

# Captions of a corpus (with `data`) the vocabulary is trained on, next to the
# embedded training captions that evaluation needs.
VOCABULARY_CORPUS_CAPTIONS = 20000
VALIDATION_BATCH_SIZE = 256


def check_corpus(config, name):
    """Checks the corpus named by the setting `name` ("data" or "validation_data")."""
    path = getattr(config, name)
    try:
        corpus_format, files = corpus_files(path)
    except (ValueError, FileNotFoundError) as error:
        raise ConfigError("{" + name + "}: " + literal(error)) from None
    if name == "data" and config.image_root is not None and corpus_format != "caption_table":
        raise ConfigError(
            "{image_root} is for caption tables, but {data} "
            + literal(f"{path!r} holds {corpus_format} files, which carry their images.")
        )
    role = "Training" if name == "data" else "Validating"
    print(f"{role} on {len(files)} {corpus_format} file(s) from {path}.", flush=True)


def vocabulary_corpus_captions(config):
    """Up to `VOCABULARY_CORPUS_CAPTIONS` captions of `config.data`."""
    try:
        return corpus_captions(config.data, limit=VOCABULARY_CORPUS_CAPTIONS)
    except (ValueError, FileNotFoundError, ImportError) as error:
        raise ConfigError("{data}: " + literal(error)) from None


def load_embedded(config):
    """The embedded dataset (`keras_siglip.data.load_emoji`) the settings choose."""
    print(
        f"Drawing the '{config.dataset}' dataset (OpenMoji emoji and scikit-learn digits)...",
        flush=True,
    )
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


def validation_hold_out(config):
    """The validation hold-out of `config.data`, or `None`."""
    if not config.data or config.validation_data:
        return None
    fraction = config.validation_fraction
    fraction = DEFAULT_VALIDATION_FRACTION if fraction is None else fraction
    return HoldOut(fraction) if fraction > 0 else None


def training_batches(config, data, preprocessor, hold_out, checkpoint):
    """`(batches for fit, SkippedSamples or None, data_position function)`."""
    if not config.data:
        try:
            stream = TrainingStream(data, preprocessor, config.batch_size, config.seed)
        except ValueError as error:
            raise ConfigError("{batch_size}: " + literal(str(error))) from None
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
            config.data,
            preprocessor,
            config.batch_size,
            image_root=config.image_root,
            shuffle_buffer=config.shuffle_buffer,
            repeat=True,
            seed=seed,
            keep=hold_out.keep if hold_out is not None else None,
        )
    except (ValueError, FileNotFoundError, ImportError) as error:
        raise ConfigError("{data}: " + literal(error)) from None
    return dataset, dataset.skipped, lambda step: {"corpus_seed": seed}


def validation_dataset(config, preprocessor, hold_out):
    """The validation pairs in batches, once through: those `hold_out` keeps out of
    `config.data`, or `config.validation_data`."""
    source = config.validation_data or config.data
    try:
        return open_corpus(
            source,
            preprocessor,
            VALIDATION_BATCH_SIZE,
            image_root=config.image_root if not config.validation_data else None,
            keep=hold_out.is_validation if hold_out is not None else None,
            repeat=False,
            shuffle_buffer=0,
            drop_remainder=False,
        )
    except (ValueError, FileNotFoundError, ImportError) as error:
        name = "validation_data" if config.validation_data else "data"
        raise ConfigError("{" + name + "}: " + literal(error)) from None
