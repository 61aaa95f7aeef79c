"""Progress lines a person reads while a training job runs.

Each line gives the step, the mean loss of the steps since the previous line, the
speed, the time spent and the time left, and the last checkpoint saved (one line, folded here):

    step    400/2000  20%   loss   1.2345     3.20 steps/s   elapsed 2m05s   left 8m20s
    checkpoint 400

Lines come every `(total_steps - initial_step) / reports` steps, at least every
`interval_seconds` (a slow run still says it is alive), and at the last step. The
speed and the time left leave out the first step, which compiles the train step.
"""

import time

import keras

from keras_siglip.validation import check_positive_int

__all__ = ["TrainingProgress", "format_duration"]

DEFAULT_REPORTS = 10
DEFAULT_INTERVAL_SECONDS = 60.0


def format_duration(seconds):
    """`"45s"`, `"3m05s"` or `"1h02m"`.

    Example:

    >>> format_duration(45.4), format_duration(185), format_duration(3725)
    ('45s', '3m05s', '1h02m')
    """
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class TrainingProgress(keras.callbacks.Callback):
    """A callback printing the job's progress: steps per second, loss, time left.

    Args:
        total_steps: the run's total optimizer steps.
        initial_step: the step `fit` starts at (a resumed run's checkpoint step).
        reports: about how many lines over the run.
        interval_seconds: the longest time between two lines.
        checkpoint_directory: where checkpoints go, said once at the start, or `None`.
        checkpoint_every: steps between checkpoints, said with the directory.
        skipped: a corpus's `SkippedSamples`, whose counts end each line, or `None`.
        clock: a function returning seconds (a fake one in tests).
        print_function: where lines go (default: `print`, flushed).

    Pass `progress.checkpoint_saved` as `CheckpointCallback(on_save=...)` so that
    lines name the last checkpoint.

    Example:

    >>> lines = []
    >>> times = iter([0.0, 5.0, 6.0])
    >>> progress = TrainingProgress(4, reports=2, clock=lambda: next(times),
    ...                             print_function=lines.append)
    >>> progress.on_train_begin()
    >>> progress.on_train_batch_end(0, {"loss": 2.0})
    >>> progress.on_train_batch_end(1, {"loss": 1.5})
    >>> print(lines[-1])
      step      2/4  50%   loss   1.5000     1.00 steps/s   elapsed 6s   left 2s
    """

    def __init__(
        self,
        total_steps,
        initial_step=0,
        reports=DEFAULT_REPORTS,
        interval_seconds=DEFAULT_INTERVAL_SECONDS,
        checkpoint_directory=None,
        checkpoint_every=None,
        skipped=None,
        clock=time.monotonic,
        print_function=None,
    ):
        super().__init__()
        check_positive_int("total_steps", total_steps)
        check_positive_int("reports", reports)
        if (
            isinstance(interval_seconds, bool)
            or not isinstance(interval_seconds, (int, float))
            or interval_seconds <= 0
        ):
            raise ValueError(f"`interval_seconds` must be positive, got {interval_seconds!r}.")
        if (
            isinstance(initial_step, bool)
            or not isinstance(initial_step, int)
            or not 0 <= initial_step < total_steps
        ):
            raise ValueError(
                f"`initial_step` must be an int in [0, {total_steps}) (below `total_steps`), "
                f"got {initial_step!r}."
            )
        self.total_steps = total_steps
        self.initial_step = initial_step
        self.every = max(1, (total_steps - initial_step) // reports)
        self.interval_seconds = float(interval_seconds)
        self.checkpoint_directory = checkpoint_directory
        self.checkpoint_every = checkpoint_every
        self.skipped = skipped
        self.clock = clock
        self.print = print_function or (lambda line: print(line, flush=True))
        self.last_checkpoint_step = None

    def on_train_begin(self, logs=None):
        self.start = self.clock()
        self.first_step_end = None  # (time, step) once the compiling step is done
        self.line_time, self.line_step = self.start, self.initial_step
        self.epoch_start, self.epoch_loss_sum = self.initial_step, 0.0
        if self.checkpoint_directory is not None:
            every = f" every {self.checkpoint_every} steps" if self.checkpoint_every else ""
            self.print(f"  checkpoints{every} go to {self.checkpoint_directory}")

    def on_epoch_begin(self, epoch, logs=None):
        # Keras' logged loss is a running mean over the epoch: it restarts here.
        self.epoch_start = self.line_step if epoch else self.initial_step
        self.epoch_loss_sum = 0.0

    def on_train_batch_end(self, batch, logs=None):
        step = self.epoch_start + batch + 1
        now = self.clock()
        if self.first_step_end is None:
            self.first_step_end = (now, step)
        due = step - self.line_step >= self.every or step >= self.total_steps
        if not due and now - self.line_time < self.interval_seconds:
            return
        # Recover the mean of the steps since the last line from the running mean.
        loss_sum = float((logs or {}).get("loss", float("nan"))) * (batch + 1)
        recent_loss = (loss_sum - self.epoch_loss_sum) / (step - self.line_step)
        self.print(self._line(step, now, recent_loss))
        self.line_time, self.line_step, self.epoch_loss_sum = now, step, loss_sum

    def checkpoint_saved(self, checkpoint):
        """Record a saved checkpoint (pass as `CheckpointCallback(on_save=...)`)."""
        self.last_checkpoint_step = checkpoint.step

    def _line(self, step, now, loss):
        first_time, first_step = self.first_step_end
        if step > first_step and now > first_time:
            rate = (step - first_step) / (now - first_time)
        elif now > self.line_time:
            rate = (step - self.line_step) / (now - self.line_time)
        else:
            rate = None
        width = len(str(self.total_steps))
        parts = [
            (
                f"  step {step:>{max(6, width)}}/{self.total_steps:<{width}}"
                f" {step / self.total_steps:4.0%}"
            ),
            f"loss {loss:8.4f}",
            f"{rate:6.2f} steps/s" if rate else "     ? steps/s",
            f"elapsed {format_duration(now - self.start)}",
        ]
        if step < self.total_steps:
            parts.append(
                f"left {format_duration((self.total_steps - step) / rate)}" if rate else "left ?"
            )
        if self.last_checkpoint_step is not None:
            parts.append(f"checkpoint {self.last_checkpoint_step}")
        if self.skipped is not None:
            parts.append(str(self.skipped))
        return "   ".join(parts)
