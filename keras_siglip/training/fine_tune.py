"""Fine-tuning from a preset: the model, its preprocessor, and what the preset fixes.

A pretrained SigLIP comes with the image size, text length and tokenizer it was
trained with; fine-tuning keeps them (a different image size would resample the
position embeddings, another tokenizer would scramble the token embeddings).
`prepare_fine_tuning` loads both halves of a preset, refuses settings that
contradict it, and locks towers for LiT.
"""

from keras_siglip.model import SigLIP
from keras_siglip.preprocessing import SigLIPPreprocessor

__all__ = ["prepare_fine_tuning"]

TOWER_NAMES = ("image", "text")
# The preset's property each setting must agree with, and how a message names it.
FIXED_BY_PRESET = {
    "image_size": "image size",
    "sequence_length": "text length",
    "vocabulary_size": "vocabulary size",
}


def prepare_fine_tuning(
    preset,
    image_size=None,
    sequence_length=None,
    vocabulary_size=None,
    locked_towers=None,
    argument_names=None,
):
    """Load a preset's model and preprocessor to fine-tune them.

    The model comes from `SigLIP.from_preset(preset)` with its weights, the
    preprocessor (tokenizer, image size) from `SigLIPPreprocessor.from_preset(preset)`,
    so any source those take works: a preset directory, a builtin preset with
    weights, a transformers or keras-hub checkpoint, an `hf://` or `kaggle://`
    handle.

    Args:
        preset: the preset to start from.
        image_size, sequence_length, vocabulary_size: settings the caller was
            asked for, or `None`. The preset fixes them: a value that differs from
            the preset's is refused (`ValueError`), the same value is accepted.
        locked_towers: the towers to lock (LiT): `"image"`, `"text"`, a tuple of
            them, `()` to unlock both, or `None` to keep the preset's.
        argument_names: how errors name the settings, e.g.
            `{"image_size": "--image-size"}` for a command line (default: the
            argument names above).

    Returns:
        `(model, preprocessor)`: a `SigLIP` with the preset's weights (not
        compiled) and its `SigLIPPreprocessor`.

    Raises:
        ValueError: a setting contradicts the preset, the preset carries no
            tokenizer (big_vision `.npz`, a builtin architecture without weights),
            or `locked_towers` names an unknown tower.

    Example:

    >>> model, preprocessor = prepare_fine_tuning(  # doctest: +SKIP
    ...     "runs/siglip", locked_towers="image")
    >>> prepare_fine_tuning("runs/siglip", image_size=64,  # doctest: +SKIP
    ...                     argument_names={"image_size": "--image-size"})
    Traceback (most recent call last):
    ...
    ValueError: `--image-size` 64 contradicts the preset's image size 32 ...
    """
    names = {key: key for key in FIXED_BY_PRESET}
    names.update(argument_names or {})
    locked = _locked_tower_names(locked_towers, names.get("locked_towers", "locked_towers"))
    preprocessor = SigLIPPreprocessor.from_preset(preset)
    model = SigLIP.from_preset(preset)
    requested = {
        "image_size": image_size,
        "sequence_length": sequence_length,
        "vocabulary_size": vocabulary_size,
    }
    for key, value in requested.items():
        found = getattr(model, key)
        if value is not None and value != found:
            raise ValueError(
                f"`{names[key]}` {value} contradicts the preset's {FIXED_BY_PRESET[key]} {found} "
                f"({preset!r}); fine-tuning keeps the preset's, so leave `{names[key]}` out or "
                f"set it to {found}."
            )
    if (
        preprocessor.image_size != model.image_size
        or preprocessor.sequence_length != model.sequence_length
    ):
        raise ValueError(
            f"The preset {preset!r} is inconsistent: its model takes {model.image_size}-pixel "
            f"images and {model.sequence_length} tokens, its preprocessor makes "
            f"{preprocessor.image_size}-pixel images and {preprocessor.sequence_length} tokens."
        )
    if preprocessor.tokenizer.vocabulary_size > model.vocabulary_size:
        raise ValueError(
            f"The preset {preset!r} is inconsistent: its tokenizer has "
            f"{preprocessor.tokenizer.vocabulary_size} pieces, its model embeds only "
            f"{model.vocabulary_size} token ids."
        )
    if locked is not None:
        model.locked_towers = locked
    return model, preprocessor


def _locked_tower_names(locked_towers, name):
    if locked_towers is None:
        return None
    towers = (locked_towers,) if isinstance(locked_towers, str) else locked_towers
    if not isinstance(towers, (tuple, list)) or any(tower not in TOWER_NAMES for tower in towers):
        raise ValueError(
            f'`{name}` must be "image", "text", a tuple of them or () for none; '
            f"got {locked_towers!r}."
        )
    return tuple(tower for tower in TOWER_NAMES if tower in towers)
