"""The main job's model before training: the checkpoint a resumed run continues,
a model and vocabulary from scratch, or a preset to fine-tune.
"""

import keras

from keras_siglip.model import SigLIP
from keras_siglip.preprocessing import (
    SigLIPPreprocessor,
    SigLIPTokenizer,
    train_sentencepiece,
)
from keras_siglip.training.checkpoints import checkpoint_directory, latest_checkpoint
from keras_siglip.training.fine_tune import prepare_fine_tuning
from keras_siglip.training.main_job_config import (
    DATASETS,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_SEQUENCE_LENGTH,
    ConfigError,
    literal,
    resume_arguments,
    variant_name,
)
from keras_siglip.training.main_job_data import vocabulary_corpus_captions

__all__ = [
    "checkpoint_to_resume",
    "fine_tuning_model",
    "model_from_scratch",
    "train_preprocessor",
]


def checkpoint_to_resume(config):
    """The checkpoint `config.resume` continues, or `None` for a fresh run."""
    directory = checkpoint_directory(config.output_dir)
    checkpoint = latest_checkpoint(directory)
    if not config.resume:
        if checkpoint is not None:
            raise ConfigError(
                "{output_dir} " + literal(repr(config.output_dir)) + " holds checkpoints of an "
                f"earlier run (the last at step {checkpoint.step}); pass {{resume}} to continue "
                "it, or choose another directory."
            )
        return None
    if checkpoint is None:
        raise ConfigError(
            "{resume}: "
            + literal(f"{directory!r} holds no checkpoint to resume")
            + " (a run writes them with {checkpoint_every})."
        )
    stored = checkpoint.arguments or {}
    current = resume_arguments(config)
    differences = [
        "{" + name + "} " + literal(f"{stored.get(name)!r} there, {current[name]!r} now")
        for name in current
        if stored.get(name, current[name]) != current[name]
    ]
    if differences:
        raise ConfigError(
            "{resume}: the checkpoints in " + literal(repr(directory)) + " are of a run with "
            "other settings: " + "; ".join(differences) + ". Resume with the same settings "
            "(the same total {steps} included)."
        )
    return checkpoint


def train_preprocessor(config, data, corpus_texts):
    """A SentencePiece vocabulary trained on the training captions, and its preprocessor."""
    _, default_vocabulary_size = DATASETS[config.dataset]
    vocabulary_size = config.vocabulary_size or default_vocabulary_size
    captions = data.training_captions() if data is not None else []
    if config.data:
        if corpus_texts is None:
            corpus_texts = vocabulary_corpus_captions(config)
        print(
            f"  read {len(corpus_texts):,} captions of the corpus {config.data} for the vocabulary"
        )
        captions = corpus_texts + captions
    vocabulary = train_sentencepiece(captions, vocabulary_size, hard_vocab_limit=False)
    tokenizer = SigLIPTokenizer(
        vocabulary, sequence_length=config.sequence_length or DEFAULT_SEQUENCE_LENGTH
    )
    print(
        f"  trained a SentencePiece vocabulary of {tokenizer.vocabulary_size} pieces "
        "on the training captions"
    )
    return SigLIPPreprocessor(tokenizer, image_size=config.image_size or DEFAULT_IMAGE_SIZE)


def model_from_scratch(config, preprocessor):
    """A new model of the settings' variant, sized for `preprocessor`."""
    model = SigLIP.from_variant(
        variant_name(config),
        image_size=preprocessor.image_size,
        sequence_length=preprocessor.sequence_length,
        vocabulary_size=preprocessor.tokenizer.vocabulary_size,
    )
    print(
        f"SigLIP {variant_name(config)}: {model.count_params():,} parameters, "
        f"backend {keras.backend.backend()}."
    )
    return model


def fine_tuning_model(config):
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
        message = literal(error)
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
