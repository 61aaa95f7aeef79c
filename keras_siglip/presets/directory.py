"""Preset directories: a model, its weights and its preprocessing, as plain files.

The layout follows keras-hub's, so a directory reads the same in either library:

    config.json            the model's Keras config (no code: loaded in safe mode)
    metadata.json          versions, parameter count, description, free-form extras
    model.weights.h5       the weights
    preprocessor.json      image size and text length (when saved with a preprocessor)
    tokenizer.json         tokenizer settings
    assets/tokenizer/vocabulary.spm   the SentencePiece model

Nothing here unpickles or executes code from a file.

Atomic saves. `save_to_preset` is the one place that writes a preset (the CLI's
`train` and `convert` go through it). A kill at any moment leaves at `path` either
the complete old preset or the complete new one, never a mixture:

1. The new preset is written into a scratch sibling `.NAME.partial-PID-XXXX` in the
   same parent directory (same file system, so renames are atomic). Files that are
   not part of a preset (notes, `metrics.json`) are carried over from the old
   directory as hard links (copies where links are impossible). Every file and
   directory is fsynced.
2. The scratch directory takes the place of `path`:
   - on Linux with one `renameat2(RENAME_EXCHANGE)` call, which swaps the two
     directories atomically; the old preset, now in the scratch name, is deleted;
   - elsewhere with two renames: `path` -> the backup sibling `.NAME.preset-backup`,
     scratch -> `path`, then the backup is deleted. A kill between the two renames
     leaves no `path` but a complete backup: `recover_interrupted_save(path)`, which
     every load (`keras_siglip.presets.registry.identify`) and every save calls
     first, renames the backup back.
   - a new `path` (none before) is created by a single rename.
3. The parent directory is fsynced, so the swap survives a power cut too.

Scratch directories of saves that were killed (their process no longer runs) are
removed by the next save into the same parent.
"""

import ctypes
import datetime
import errno
import json
import os
import shutil
import sys
import tempfile
import warnings

import keras
import numpy as np

from keras_siglip.convert.weights import weights_file_differences
from keras_siglip.files import file_inside
from keras_siglip.version import __version__

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
PREPROCESSOR_FILE = "preprocessor.json"
TOKENIZER_FILE = "tokenizer.json"
ASSETS_DIR = "assets"
# Everything `save_to_preset` writes; a save replaces or removes each of these.
PRESET_ENTRIES = (
    CONFIG_FILE,
    METADATA_FILE,
    WEIGHTS_FILE,
    PREPROCESSOR_FILE,
    TOKENIZER_FILE,
    ASSETS_DIR,
)
SCRATCH_INFIX = ".partial-"
BACKUP_SUFFIX = ".preset-backup"


def is_preset_directory(path):
    """Whether `path` is a directory saved by `save_to_preset` (or keras-hub)."""
    return isinstance(path, (str, os.PathLike)) and os.path.isfile(os.path.join(path, CONFIG_FILE))


def save_to_preset(
    model, path, preprocessor=None, description=None, metadata=None, allow_non_finite=False
):
    """Write `model` (and its `preprocessor`) to the preset directory `path`, atomically.

    The new preset is written beside `path` and swapped in whole (see the module
    docstring), so a save that fails or is killed leaves the earlier preset in
    `path` complete and untouched. Preset files of an earlier save that this one
    does not write (a preprocessor, say) are gone afterwards; other files in `path`
    are kept.

    Args:
        model: a built `SigLIP`.
        path: the directory; created if missing.
        preprocessor: a `SigLIPPreprocessor` whose text length and image size match
            the model, or `None`.
        description: one line saying what the preset is.
        metadata: extra JSON-serialisable facts to record (training data, metrics).
        allow_non_finite: save even if a weight holds NaN or infinity. By default
            such a model (a diverged run) is refused with a `ValueError` naming the
            variables, so it never replaces a good preset.
    """
    if not allow_non_finite:
        check_finite_weights(model, path)
    if preprocessor is not None:
        _check_preprocessor_matches(model, preprocessor, path)
    path = os.path.abspath(os.fspath(path))
    recover_interrupted_save(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"Cannot save the preset to {path}: it exists and is not a directory.")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    _remove_abandoned_scratch(path)
    scratch = tempfile.mkdtemp(dir=parent, prefix=_scratch_prefix(path) + f"{os.getpid()}-")
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
                "date_saved": datetime.datetime.now(datetime.timezone.utc).strftime(
                    "%Y-%m-%d %H:%M:%S"
                ),
                "description": description or "",
                **(metadata or {}),
            },
        )
        if os.path.isdir(path):
            _carry_over_other_files(path, scratch)
        _fsync_tree(scratch)
        _swap_in(scratch, path)
        _fsync_directory(parent)
    finally:
        _remove(scratch)


def check_finite_weights(model, path):
    """Raise a `ValueError` naming the variables of `model` that hold NaN or infinity."""
    bad = []
    for variable in model.weights:
        values = np.asarray(keras.ops.convert_to_numpy(variable))
        if np.issubdtype(values.dtype, np.floating) or values.dtype.name == "bfloat16":
            finite = np.isfinite(values.astype("float32"))
            if not finite.all():
                bad.append(f"{variable.path} ({int(finite.size - finite.sum())} of {finite.size})")
    if bad:
        shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise ValueError(
            f"Cannot save the preset to {path}: {len(bad)} variable(s) hold NaN or infinite "
            f"values (non-finite entries): {shown}. Training probably diverged; pass "
            "`allow_non_finite=True` to save it anyway."
        )


def recover_interrupted_save(path):
    """Put back the preset of a save killed between its two renames (see above).

    Only the two-rename swap (systems without `renameat2`) leaves this state: no
    `path`, and its complete old preset in the backup sibling. Harmless otherwise.
    """
    path = os.path.abspath(os.fspath(path))
    backup = _backup_path(path)
    if not os.path.isdir(backup):
        return
    if os.path.lexists(path):
        # The second rename happened: the backup is the old preset, no longer needed.
        _remove(backup)
        return
    try:
        os.rename(backup, path)
    except FileNotFoundError:  # another process recovered it first
        pass


def _scratch_prefix(path):
    return f".{os.path.basename(path)}{SCRATCH_INFIX}"


def _backup_path(path):
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}{BACKUP_SUFFIX}")


def _remove_abandoned_scratch(path):
    """Delete scratch directories of earlier saves into `path` whose process is dead."""
    prefix = _scratch_prefix(path)
    parent = os.path.dirname(path)
    for name in os.listdir(parent):
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            _remove(os.path.join(parent, name))


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _carry_over_other_files(path, scratch):
    """Hard-link (or copy) the entries of `path` that are not preset files into `scratch`."""
    for name in os.listdir(path):
        if name in PRESET_ENTRIES:
            continue
        source, target = os.path.join(path, name), os.path.join(scratch, name)
        if os.path.isdir(source) and not os.path.islink(source):
            shutil.copytree(source, target, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(source, target, follow_symlinks=False)


def _link_or_copy(source, target, follow_symlinks=True):
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
        return target
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target, follow_symlinks=follow_symlinks)
    return target


def _swap_in(scratch, path):
    """Make `scratch` the directory at `path`; the old one ends up at `scratch`."""
    if not os.path.lexists(path):
        os.rename(scratch, path)
        return
    if _exchange(scratch, path):
        return
    backup = _backup_path(path)
    _remove(backup)
    os.rename(path, backup)
    os.rename(scratch, path)
    os.rename(backup, scratch)  # removed by the caller, with the scratch name


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first, second):
    """Swap two paths atomically with Linux's `renameat2`; `False` where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    result = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False  # an old kernel or a file system without it: two renames
    raise OSError(error, f"Could not swap {first} into place: {os.strerror(error)}", second)


def _fsync_tree(root):
    for directory, _, files in os.walk(root):
        for name in files:
            file = os.path.join(directory, name)
            if not os.path.islink(file):
                with open(file, "rb") as handle:
                    os.fsync(handle.fileno())
        _fsync_directory(directory)


def _fsync_directory(directory):
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open directories; its renames are journaled
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _remove(entry):
    if os.path.isdir(entry) and not os.path.islink(entry):
        shutil.rmtree(entry, ignore_errors=True)
    elif os.path.lexists(entry):
        os.remove(entry)


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
            f"The preset at {path} holds a {config['class_name']!r}, "
            f"not a {model_class.__name__!r}."
        )
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as error:  # the message names the file and the cause
        raise ValueError(
            f"Could not build the model described by {os.path.join(path, CONFIG_FILE)}: {error}"
        ) from error
    if load_weights:
        weights = file_inside(path, WEIGHTS_FILE)
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
    file = file_inside(path, name)
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
