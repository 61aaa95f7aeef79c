"""Resumable training checkpoints: save every N steps, resume after a kill.

A checkpoint is a directory `step-XXXXXXXX` (the optimizer step, eight digits) under
a run's checkpoint folder (`checkpoint_directory(output_dir)`, i.e.
`OUTPUT_DIR/checkpoints`), holding:

- `training_state.weights.h5`: the model's weights and the optimizer's variables
  (moments, `iterations`), in Keras' own weights format (`model.save_weights` of a
  compiled model): HDF5 arrays, no pickle, nothing executed on loading;
- `checkpoint.json`: the step, the data position (a JSON dict the job supplies: where
  its batch stream stands, so that a resumed run draws the batches the uninterrupted
  run would have drawn), the run's arguments, the Keras version and backend;
- `preprocessor/`: the preprocessor's files (`SigLIPPreprocessor.save_to_directory`:
  its JSON and the SentencePiece vocabulary), when the job passes one.

Every file is written into a hidden sibling `.step-XXXXXXXX.partial-*`, flushed to
disk (`fsync`), and the directory is renamed into place: a run killed at any moment
leaves either a complete checkpoint or a partial folder that `latest_checkpoint`
ignores (and the next save removes). Only the last `keep` checkpoints are kept.

The learning-rate schedule reads `optimizer.iterations`, which the checkpoint
restores, so a resumed `fit` of the remaining steps continues the schedule where it
stopped; `resume_fit_arguments` says what to pass to `fit`.
"""

import json
import os
import re
import shutil
import tempfile
import warnings

import keras
import numpy as np

from keras_siglip.preprocessing import SigLIPPreprocessor
from keras_siglip.validation import check_positive_int

__all__ = [
    "Checkpoint",
    "CheckpointCallback",
    "ResumableBatches",
    "checkpoint_directory",
    "latest_checkpoint",
    "list_checkpoints",
    "restore",
    "resume_fit_arguments",
    "save_checkpoint",
]

CHECKPOINTS_FOLDER = "checkpoints"
STATE_FILE = "training_state.weights.h5"
INFO_FILE = "checkpoint.json"
PREPROCESSOR_FOLDER = "preprocessor"
DEFAULT_KEEP = 3
FORMAT = "keras_siglip.training_checkpoint"
FORMAT_VERSION = 1
_NAME = re.compile(r"^step-(\d{8,})$")


def checkpoint_directory(output_dir):
    """Where a run writing to `output_dir` keeps its checkpoints: `output_dir/checkpoints`."""
    return os.path.join(os.fspath(output_dir), CHECKPOINTS_FOLDER)


def checkpoint_name(step):
    """The folder name of the checkpoint at `step`: `step-` and eight digits."""
    return f"step-{step:08d}"


class Checkpoint:
    """A complete checkpoint on disk: its folder and what `checkpoint.json` records.

    Attributes:
        path: the checkpoint folder.
        step: optimizer steps taken when it was saved.
        data_position: the dict the job's `data_position(step)` returned (or `None`).
        arguments: the run's arguments (a JSON dict, or `None`).
        info: the whole `checkpoint.json`.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        info_path = os.path.join(self.path, INFO_FILE)
        if not os.path.isfile(info_path):
            raise FileNotFoundError(f"{self.path!r} is not a checkpoint: it has no {INFO_FILE}.")
        try:
            with open(info_path, encoding="utf-8") as file:
                info = json.load(file)
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(
                f"The checkpoint file {info_path!r} is not valid JSON: {error}"
            ) from None
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise ValueError(
                f'{info_path!r} is not a keras_siglip training checkpoint (its "format" is '
                f"{info.get('format') if isinstance(info, dict) else None!r}, expected {FORMAT!r})."
            )
        self.info = info
        self.step = int(info["step"])
        self.data_position = info.get("data_position")
        self.arguments = info.get("arguments")

    @property
    def state_file(self):
        return os.path.join(self.path, STATE_FILE)

    def preprocessor(self):
        """The `SigLIPPreprocessor` saved with the checkpoint, or `None`."""
        folder = os.path.join(self.path, PREPROCESSOR_FOLDER)
        return SigLIPPreprocessor.from_directory(folder) if os.path.isdir(folder) else None

    def __repr__(self):
        return f"Checkpoint({self.path!r}, step={self.step})"


def list_checkpoints(directory):
    """The complete checkpoints in `directory`, oldest step first.

    Partial folders (a save cut short) and anything not named `step-XXXXXXXX` or
    without its `checkpoint.json` and state file are ignored.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = _NAME.match(name)
        path = os.path.join(directory, name)
        if not match or not os.path.isfile(os.path.join(path, STATE_FILE)):
            continue
        try:
            checkpoint = Checkpoint(path)
        except (FileNotFoundError, ValueError, KeyError):
            continue
        found.append(checkpoint)
    return sorted(found, key=lambda checkpoint: checkpoint.step)


def latest_checkpoint(directory):
    """The complete checkpoint with the most steps in `directory`, or `None`.

    Example:

    >>> import tempfile
    >>> print(latest_checkpoint(tempfile.mkdtemp()))
    None
    """
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def save_checkpoint(
    model, directory, step, data_position=None, preprocessor=None, arguments=None, keep=DEFAULT_KEEP
):
    """Write a checkpoint of a compiled `model` at `step` into `directory`, atomically.

    Args:
        model: a compiled Keras model (its optimizer's variables are saved).
        directory: the checkpoint folder (`checkpoint_directory(output_dir)`).
        step: optimizer steps taken so far.
        data_position: a JSON-serialisable dict: where the batch stream stands.
        preprocessor: a `SigLIPPreprocessor` to save beside the weights, or `None`.
        arguments: the run's arguments as a JSON-serialisable dict, or `None`.
        keep: how many checkpoints to keep, the newest (`None` keeps all).

    Returns:
        The `Checkpoint` written.
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError("`model` must be compiled: a checkpoint holds its optimizer's state.")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"`step` must be a non-negative int, got {step!r}.")
    if keep is not None:
        check_positive_int("keep", keep)
    info = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "step": int(step),
        "data_position": data_position,
        "arguments": arguments,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
    }
    # Fail before writing anything when the job's records are not JSON.
    try:
        info_text = json.dumps(info, indent=2)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"`data_position` and `arguments` must be JSON-serialisable: {error}"
        ) from None
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    name = checkpoint_name(int(step))
    _remove_partial_saves(directory)
    scratch = tempfile.mkdtemp(dir=directory, prefix=f".{name}.partial-")
    try:
        _sync_backend_state(model)
        model.save_weights(os.path.join(scratch, STATE_FILE))
        if preprocessor is not None:
            preprocessor.save_to_directory(os.path.join(scratch, PREPROCESSOR_FOLDER))
        # checkpoint.json last: a folder with it holds everything else.
        with open(os.path.join(scratch, INFO_FILE), "w", encoding="utf-8") as file:
            file.write(info_text)
        _fsync_tree(scratch)
        target = os.path.join(directory, name)
        if os.path.lexists(target):
            # The same step saved again (a resumed run's last step): swap the folders.
            old = tempfile.mkdtemp(dir=directory, prefix=f".{name}.replaced-")
            os.rename(target, os.path.join(old, name))
            os.rename(scratch, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(scratch, target)
        _fsync_directory(directory)
    finally:
        if os.path.isdir(scratch):
            shutil.rmtree(scratch, ignore_errors=True)
    if keep is not None:
        for old in list_checkpoints(directory)[:-keep]:
            shutil.rmtree(old.path, ignore_errors=True)
    return Checkpoint(target)


def restore(model, checkpoint):
    """Load a checkpoint's weights and optimizer state into a compiled `model`.

    Builds the optimizer first when it is not built yet (a model fresh from
    `compile`), so that its moments and `iterations` are loaded, not skipped. The
    model must be compiled as the checkpointed one was (same architecture, same
    locked towers, same kind of optimizer).

    Args:
        model: a compiled Keras model.
        checkpoint: a `Checkpoint` or the path of a checkpoint folder.

    Returns:
        `(step, data_position)` of the checkpoint.

    Raises:
        ValueError: the model is not compiled, or the checkpoint's optimizer state
            does not fit the model's optimizer (the error says why).
    """
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = Checkpoint(checkpoint)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError(
            "`model` must be compiled before `restore`: the checkpoint's optimizer state "
            "needs an optimizer to load into."
        )
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(checkpoint.state_file)
    for warning in caught:
        message = str(warning.message)
        # Keras only warns when an optimizer's variables do not match: a silent
        # restart of Adam's moments and of the learning-rate schedule.
        if "Skipping variable loading" in message or "mismatch" in message.lower():
            raise ValueError(
                f"The checkpoint {checkpoint.path!r} does not fit this model: {message.strip()} "
                "(compile the model as the checkpointed run did: same variant, locked towers "
                "and optimizer)."
            )
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    iterations = int(keras.ops.convert_to_numpy(optimizer.iterations))
    if iterations != checkpoint.step:
        raise ValueError(
            f"The checkpoint {checkpoint.path!r} records step {checkpoint.step} but its optimizer "
            f"state has {iterations} iterations."
        )
    return checkpoint.step, checkpoint.data_position


def resume_fit_arguments(total_steps, resumed_step=0):
    """What to pass to `fit` to train up to `total_steps` from `resumed_step`.

    One epoch of the remaining steps: `fit` counts its batches from 0 again, while
    the restored `optimizer.iterations` carries the learning-rate schedule on from
    `resumed_step`.

    Example:

    >>> resume_fit_arguments(1000, 400)
    {'epochs': 1, 'steps_per_epoch': 600}
    >>> resume_fit_arguments(1000, 1000)
    Traceback (most recent call last):
    ...
    ValueError: The run already took its 1000 steps (resumed at step 1000): nothing to train.
    """
    check_positive_int("total_steps", total_steps)
    if (
        isinstance(resumed_step, bool)
        or not isinstance(resumed_step, (int, np.integer))
        or resumed_step < 0
    ):
        raise ValueError(f"`resumed_step` must be a non-negative int, got {resumed_step!r}.")
    if resumed_step >= total_steps:
        raise ValueError(
            f"The run already took its {total_steps} steps (resumed at step {resumed_step}): "
            "nothing to train."
        )
    return {"epochs": 1, "steps_per_epoch": int(total_steps - resumed_step)}


class CheckpointCallback(keras.callbacks.Callback):
    """Saves a checkpoint every `every` optimizer steps, and at the last step.

    Args:
        directory: the checkpoint folder (`checkpoint_directory(output_dir)`).
        every: optimizer steps between checkpoints.
        total_steps: the run's total steps: a checkpoint is also written there, so
            that resuming a finished run finds it finished. `None`: only every
            `every` steps.
        initial_step: the step `fit` starts from (the restored checkpoint's step).
        data_position: a function `step -> dict` (JSON), where the batch stream
            stands before the batch of step `step` (0-based); see `ResumableBatches`.
        preprocessor: a `SigLIPPreprocessor` saved with each checkpoint, or `None`.
        arguments: the run's arguments (a JSON dict) saved with each checkpoint.
        keep: how many checkpoints to keep.
        on_save: an optional function `Checkpoint -> None` called after each save
            (a progress line, say).

    Example:

    >>> callback = CheckpointCallback("runs/x/checkpoints", every=500, total_steps=2000)
    >>> model.fit(batches, **resume_fit_arguments(2000), callbacks=[callback])  # doctest: +SKIP
    """

    def __init__(
        self,
        directory,
        every,
        total_steps=None,
        initial_step=0,
        data_position=None,
        preprocessor=None,
        arguments=None,
        keep=DEFAULT_KEEP,
        on_save=None,
    ):
        super().__init__()
        check_positive_int("every", every)
        if total_steps is not None:
            check_positive_int("total_steps", total_steps)
        if data_position is not None and not callable(data_position):
            raise ValueError(
                f"`data_position` must be a function step -> dict, got {data_position!r}."
            )
        self.directory = os.fspath(directory)
        self.every = every
        self.total_steps = total_steps
        self.initial_step = int(initial_step)
        self.data_position = data_position
        self.preprocessor = preprocessor
        self.arguments = arguments
        self.keep = keep
        self.on_save = on_save
        self.step = self.initial_step
        self.last_saved = None
        self._epoch_start = self.initial_step

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.step

    def on_train_batch_end(self, batch, logs=None):
        # `batch` counts from 0 in each epoch; with `steps_per_execution`, Keras
        # reports the last batch of each execution.
        self.step = self._epoch_start + batch + 1
        if self.step % self.every == 0 or self.step == self.total_steps:
            self.save()

    def save(self):
        """Write a checkpoint at the current step now."""
        if self.last_saved == self.step:
            return None
        position = self.data_position(self.step) if self.data_position is not None else None
        checkpoint = save_checkpoint(
            self.model,
            self.directory,
            self.step,
            data_position=position,
            preprocessor=self.preprocessor,
            arguments=self.arguments,
            keep=self.keep,
        )
        self.last_saved = self.step
        if self.on_save is not None:
            self.on_save(checkpoint)
        return checkpoint


class ResumableBatches:
    """An endless batch stream driven by a NumPy generator, which can resume mid-way.

    `draw(rng)` makes one batch from the `numpy.random.Generator` it is given. The
    stream records the generator's state before each batch it draws, so
    `position(step)` can say where the stream stood before batch `step` even when
    `fit` has already pulled later batches ahead (Keras prefetches a few); a stream
    built with that position draws batch `step` and the ones after it exactly as
    the first stream did.

    Args:
        draw: a function `rng -> batch`.
        rng: a `numpy.random.Generator` (its state is advanced by the stream).
        position: a dict from `position()` to resume from, or `None` to start at
            step 0 with `rng` as it is.

    Example:

    >>> import numpy as np
    >>> draw = lambda rng: rng.integers(100, size=2)
    >>> stream = ResumableBatches(draw, np.random.default_rng(0))
    >>> batches = stream.batches()
    >>> first = [next(batches)[0] for _ in range(3)]
    >>> again = ResumableBatches(draw, np.random.default_rng(7), stream.position(1)).batches()
    >>> all(np.array_equal(next(again)[0], batch) for batch in first[1:])
    True
    """

    def __init__(self, draw, rng, position=None):
        self.draw = draw
        self.rng = rng
        self.step = 0
        if position is not None:
            if (
                not isinstance(position, dict)
                or "step" not in position
                or "rng_state" not in position
            ):
                raise ValueError(
                    '`position` must be a dict from `ResumableBatches.position`, with "step" '
                    f'and "rng_state"; got {position!r}.'
                )
            self.step = int(position["step"])
            self.rng.bit_generator.state = position["rng_state"]
        self._states = {}

    def batches(self):
        """An endless generator of `(batch,)` tuples, the form `fit` takes."""
        while True:
            self._states[self.step] = self.rng.bit_generator.state
            self.step += 1
            yield (self.draw(self.rng),)

    def position(self, step):
        """Where the stream stood before drawing batch `step` (a JSON dict).

        Positions of batches before `step` are forgotten: checkpoints only move on.
        """
        if step not in self._states:
            if step == self.step:
                self._states[step] = self.rng.bit_generator.state
            else:
                raise ValueError(
                    f"The stream's position before batch {step} is not known: it has drawn "
                    f"batches up to {self.step - 1} and remembers those from "
                    f"{min(self._states, default=self.step)} (positions are asked in order)."
                )
        state = self._states[step]
        for old in [key for key in self._states if key < step]:
            del self._states[old]
        return {"step": int(step), "rng_state": state}


def _sync_backend_state(model):
    # JAX's `fit` keeps the variables' values in its own state between steps and
    # writes them back at the end of the epoch; a mid-epoch save must ask first.
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


def _remove_partial_saves(directory):
    """Remove the scratch folders of saves that were cut short (by a kill)."""
    for name in os.listdir(directory):
        if name.startswith(".step-") and (".partial-" in name or ".replaced-" in name):
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)


def _fsync_tree(folder):
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as file:
                os.fsync(file.fileno())
        _fsync_directory(root)


def _fsync_directory(folder):
    # Makes the renames and new entries durable; not every platform opens folders.
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
