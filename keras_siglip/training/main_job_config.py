"""The main job's settings: `TrainingConfig`, its defaults, and the checks of them.

`ConfigError` is how the main job (`keras_siglip.training.main_job`) refuses a
setting; its message names settings as `{name}` fields, so that the library and the
command line each spell them their own way.
"""

import dataclasses
import string

__all__ = [
    "DATASETS",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_SEQUENCE_LENGTH",
    "DEFAULT_VARIANT",
    "RENDER_SIZE",
    "RESUMABLE_CHANGES",
    "ConfigError",
    "TrainingConfig",
    "as_config",
    "check_settings",
    "literal",
    "resume_arguments",
    "variant_name",
]

# Each dataset: the caption languages, and the default vocabulary size (the Chinese,
# Japanese and Korean names alone need more than 2,000 single-character pieces).
DATASETS = {
    "emoji": (("en",), 1000),
    # Captions in every language of the `emoji` package; evaluation stays English.
    "emoji-multilingual": (
        ("en", "es", "ja", "ko", "pt", "it", "fr", "de", "fa", "id", "zh", "ru", "tr", "ar"),
        4000,
    ),
}
RENDER_SIZE = 64
# A model from scratch, unless told otherwise; with `init_from`, the preset's.
DEFAULT_VARIANT = "Nano-i5t1/8"
DEFAULT_IMAGE_SIZE = 32
DEFAULT_SEQUENCE_LENGTH = 16
# Settings a resumed run may change: where it is, and how it checkpoints.
RESUMABLE_CHANGES = ("resume", "output_dir", "checkpoint_every", "keep_checkpoints")


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


def literal(text):
    """`text` inside a `ConfigError` template, its braces taken literally.

    >>> ConfigError("{data}: " + literal("no {key} column")).message(lambda n: "--" + n)
    '--data: no {key} column'
    """
    return str(text).replace("{", "{{").replace("}", "}}")


def as_config(config):
    """`config` as a `TrainingConfig`, a missing attribute taking the default."""
    if isinstance(config, TrainingConfig):
        return config
    defaults = TrainingConfig()
    return TrainingConfig(
        **{
            field.name: getattr(config, field.name, getattr(defaults, field.name))
            for field in dataclasses.fields(TrainingConfig)
        }
    )


def variant_name(config):
    """The variant a model from scratch takes."""
    return config.variant or DEFAULT_VARIANT


def resume_arguments(config):
    """The settings a resumed run must share with the run it continues (JSON)."""
    settings = dataclasses.asdict(config)
    return {name: value for name, value in settings.items() if name not in RESUMABLE_CHANGES}


def check_settings(config):
    """Refuses settings that contradict each other (a `ConfigError`)."""
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
            "{locked_towers} must be 'image' or 'text', got " + literal(repr(config.locked_towers))
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
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, (int, float))
            or not 0 <= fraction < 1
        ):
            raise ConfigError(
                "{validation_fraction} must be a number in [0, 1) (the share of pairs held out), "
                f"got {fraction!r}"
            )
    if config.resume and not config.checkpoint_every:
        print("Resuming without --checkpoint-every: the rest of the run writes no checkpoint.")
