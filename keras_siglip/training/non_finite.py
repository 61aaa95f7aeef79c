"""Stopping a run whose loss or weights stop being finite, before it saves anything.

A diverged run (a learning rate far too high, a NaN pixel) turns every weight into
NaN within a step or two, and a NaN preset saved over a good one loses the user's
model. `StopOnNonFiniteLoss` raises `NonFiniteTrainingError` from inside `fit` at
the first step whose loss is NaN or infinite, naming that step; put it first among
the callbacks, so that no later callback (a checkpoint) sees that step.
`non_finite_variables` checks the weights after `fit`. A `fit` user gets the same
guard from `keras.callbacks.TerminateOnNaN()`, which stops `fit` without an error.

The check reads the loss every step, which waits for the step to finish: the
device cannot run ahead of Python by more than one step (as with any per-step
progress bar).
"""

import math

import keras
import numpy as np

__all__ = ["NonFiniteTrainingError", "StopOnNonFiniteLoss", "non_finite_variables"]


class NonFiniteTrainingError(RuntimeError):
    """The loss or the weights of a run became NaN or infinite.

    Attributes:
        step: the optimizer step (counted from the run's start) where it was seen.
    """

    def __init__(self, message, step):
        super().__init__(message)
        self.step = step


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `NonFiniteTrainingError` at the first step with a non-finite loss.

    Args:
        initial_step: the step `fit` starts from (a resumed run's checkpoint step).

    Example:

    >>> guard = StopOnNonFiniteLoss(initial_step=10)
    >>> guard.on_train_batch_end(0, {"loss": 0.7})
    >>> guard.on_train_batch_end(1, {"loss": float("nan")})
    Traceback (most recent call last):
    ...
    keras_siglip.training.non_finite.NonFiniteTrainingError: The loss became nan at step 12; ...
    """

    def __init__(self, initial_step=0):
        super().__init__()
        self.initial_step = int(initial_step)
        self._epoch_start = self.initial_step
        self.step = self.initial_step

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.step

    def on_train_batch_end(self, batch, logs=None):
        self.step = self._epoch_start + batch + 1
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(keras.ops.convert_to_numpy(loss))
        if not math.isfinite(loss):
            raise NonFiniteTrainingError(
                f"The loss became {loss} at step {self.step}; training stopped there and "
                "nothing of that step was saved (lower the learning rate, or look for NaN "
                "in the data).",
                self.step,
            )


def non_finite_variables(model):
    """The paths of `model`'s variables holding NaN or infinity (an empty list if none)."""
    return [
        variable.path
        for variable in model.weights
        if not np.isfinite(keras.ops.convert_to_numpy(variable.value)).all()
    ]
