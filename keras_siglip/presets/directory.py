"""Preset directories: a model, its weights and its preprocessing, as plain files.

The layout follows keras-hub's, so a directory reads the same in either library:

    config.json            the model's Keras config (no code: loaded in safe mode)
    metadata.json          versions, parameter count, description, free-form extras
    model.weights.h5       the weights
    preprocessor.json      image size and text length (when saved with a preprocessor)
    tokenizer.json         tokenizer settings
    assets/tokenizer/vocabulary.spm   the SentencePiece model

Nothing here unpickles or executes code from a file.
"""

import datetime
import json
import os
import warnings

import keras

from keras_siglip.convert.weights import weights_file_differences
from keras_siglip.validation import preset_file
from keras_siglip.version import __version__

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
PREPROCESSOR_FILE = "preprocessor.json"
TOKENIZER_FILE = "tokenizer.json"
ASSETS_DIR = "assets"
# Everything `save_to_preset` writes; a save replaces or removes each of these.
PRESET_ENTRIES = (CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE, PREPROCESSOR_FILE, TOKENIZER_FILE, ASSETS_DIR)


def is_preset_directory(path):
    """Whether `path` is a directory saved by `save_to_preset` (or keras-hub)."""
    return isinstance(path, (str, os.PathLike)) and os.path.isfile(os.path.join(path, CONFIG_FILE))


def save_to_preset(model, path, preprocessor=None, description=None, metadata=None):
    """Write `model` (and its `preprocessor`) to the preset directory `path`.

    Every file is first written to a scratch directory beside `path` and moved into
    place only when all of them are complete, so a save that fails (a config that
    does not serialise, a full disk) leaves an earlier preset in `path` untouched.
    Preset files of an earlier save that this one does not write (a preprocessor,
    say) are removed; other files in `path` are left alone.

    Args:
        model: a built `SigLIP`.
        path: the directory; created if missing.
        preprocessor: a `SigLIPPreprocessor` whose text length and image size match
            the model, or `None`.
        description: one line saying what the preset is.
        metadata: extra JSON-serialisable facts to record (training data, metrics).
    """
    import shutil
    import tempfile

    if preprocessor is not None:
        _check_preprocessor_matches(model, preprocessor, path)
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"Cannot save the preset to {path}: it exists and is not a directory.")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.partial-")
    try:
        _write_json(os.path.join(scratch, CONFIG_FILE), keras.saving.serialize_keras_object(model))
        _save_model_weights_only(model, os.path.join(scratch, WEIGHTS_FILE))
        if preprocessor is not None:
            preprocessor.save_to_directory(scratch)
        _write_json(
            os.path.join(scratch, METADATA_FILE),
            {
                "keras_version": keras.__version__,
                "keras_siglip_version": __version__,
                "parameter_count": int(model.count_params()),
                "date_saved": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
                "description": description or "",
                **(metadata or {}),
            },
        )
        os.makedirs(path, exist_ok=True)
        for name in PRESET_ENTRIES:
            target = os.path.join(path, name)
            if not os.path.exists(os.path.join(scratch, name)) and os.path.lexists(target):
                shutil.rmtree(target) if os.path.isdir(target) and not os.path.islink(target) else os.remove(target)
        # Files first, the weights last but one and the config last: a reader that
        # finds the new config.json finds the rest of the new preset beside it.
        for name in sorted(os.listdir(scratch), key=lambda name: (name == CONFIG_FILE, name == WEIGHTS_FILE)):
            source, target = os.path.join(scratch, name), os.path.join(path, name)
            if os.path.isdir(source):
                if os.path.lexists(target):
                    shutil.rmtree(target) if os.path.isdir(target) and not os.path.islink(target) else os.remove(target)
                os.rename(source, target)
            else:
                os.replace(source, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _save_model_weights_only(model, file):
    """Save the weights without the optimizer's state, which a compiled model's
    `save_weights` would include (twice the parameters again, for AdamW)."""
    if getattr(model, "optimizer", None) is None:
        model.save_weights(file, overwrite=True)
        return
    bare = model.__class__.from_config(model.get_config())
    bare.set_weights(model.get_weights())
    bare.save_weights(file, overwrite=True)


def load_model_from_directory(model_class, path, load_weights=True):
    """Build the model saved in preset directory `path` and load its weights."""
    config = read_json(path, CONFIG_FILE)
    if not isinstance(config, dict) or "config" not in config or "class_name" not in config:
        raise ValueError(
            f"{os.path.join(path, CONFIG_FILE)} is not a Keras model config (expected a JSON "
            "object with 'class_name' and 'config')."
        )
    if config["class_name"] != model_class.__name__:
        raise ValueError(
            f"The preset at {path} holds a {config['class_name']!r}, not a {model_class.__name__!r}."
        )
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as error:  # the message names the file and the cause
        raise ValueError(
            f"Could not build the model described by {os.path.join(path, CONFIG_FILE)}: {error}"
        ) from error
    if load_weights:
        weights = preset_file(path, WEIGHTS_FILE)
        if not os.path.isfile(weights):
            raise FileNotFoundError(
                f"The preset at {path} has no {WEIGHTS_FILE}; pass `load_weights=False` to "
                "build the architecture only."
            )
        try:
            with warnings.catch_warnings():
                # Presets hold no optimizer state on purpose (see `save_to_preset`).
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                model.load_weights(weights)
        except Exception as error:
            differences = weights_file_differences(model, weights)
            detail = "; ".join(differences[:5]) if differences else str(error)
            raise ValueError(
                f"Could not load the weights in {weights} into the model that "
                f"{CONFIG_FILE} describes: {detail}"
            ) from error
    return model


def read_json(path, name):
    """Parse `name` inside directory `path`, naming the file in any error."""
    file = preset_file(path, name)
    if not os.path.isfile(file):
        raise FileNotFoundError(f"The preset directory {path} has no {name}.")
    try:
        with open(file, encoding="utf-8") as handle:
            return json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{file} is not valid JSON: {error}") from error


def _write_json(file, data):
    with open(file, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")


def _check_preprocessor_matches(model, preprocessor, path):
    if preprocessor.sequence_length != model.sequence_length:
        raise ValueError(
            f"Cannot save the preset to {path}: the preprocessor pads text to "
            f"{preprocessor.sequence_length} tokens but the text tower takes "
            f"{model.sequence_length}."
        )
    if preprocessor.image_size != model.image_size:
        raise ValueError(
            f"Cannot save the preset to {path}: the preprocessor resizes images to "
            f"{preprocessor.image_size} pixels but the image tower takes {model.image_size}."
        )
    if preprocessor.tokenizer.vocabulary_size > model.vocabulary_size:
        raise ValueError(
            f"Cannot save the preset to {path}: the tokenizer's vocabulary has "
            f"{preprocessor.tokenizer.vocabulary_size} ids but the text tower embeds only "
            f"{model.vocabulary_size}."
        )
