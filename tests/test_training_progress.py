"""Progress lines of a training job, driven by a fake clock."""

import pytest

from keras_siglip.training.progress import TrainingProgress, format_duration


class Checkpoint:
    def __init__(self, step):
        self.step = step


def drive(progress, times, losses):
    """Feed the callback per-step losses as Keras would: running means over the epoch."""
    clock = iter(times)
    progress.clock = lambda: next(clock)
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    total = 0.0
    for batch, loss in enumerate(losses):
        total += loss
        progress.on_train_batch_end(batch, {"loss": total / (batch + 1)})


def test_lines_every_tenth_of_the_run_with_speed_and_time_left():
    lines = []
    progress = TrainingProgress(20, reports=4, print_function=lines.append)
    # The first step compiles (10 s); then each step takes 0.5 s.
    times = [0.0, 10.0] + [10.0 + 0.5 * i for i in range(1, 20)]
    losses = [float(step) for step in range(1, 21)]  # loss of step s is s
    drive(progress, times, losses)
    assert len(lines) == 4  # steps 5, 10, 15, 20
    # Steps 1-5: mean loss 3; speed over steps 2-5: 4 steps in 2 s; 15 steps left at 2/s.
    assert (
        lines[0] == "  step      5/20  25%   loss   3.0000     2.00 steps/s   elapsed 12s   left 8s"
    )
    # Steps 6-10: mean loss 8.
    assert "   loss   8.0000   " in lines[1]
    assert lines[3] == "  step     20/20 100%   loss  18.0000     2.00 steps/s   elapsed 20s"


def test_a_slow_run_prints_at_least_every_interval_and_names_the_checkpoint():
    lines = []
    progress = TrainingProgress(
        1000,
        initial_step=400,
        reports=2,
        interval_seconds=60,
        checkpoint_directory="runs/x/checkpoints",
        checkpoint_every=100,
        print_function=lines.append,
    )
    # A resumed run: fit counts from batch 0 again; each step takes 25 s.
    times = [0.0] + [25.0 * i for i in range(1, 7)]
    clock = iter(times)
    progress.clock = lambda: next(clock)
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    progress.checkpoint_saved(Checkpoint(400))
    for batch in range(6):
        progress.on_train_batch_end(batch, {"loss": 0.5})
    assert lines[0] == "  checkpoints every 100 steps go to runs/x/checkpoints"
    # 300 steps between planned lines; the 60 s interval prints at 75 s (step 403) and 150 s (406).
    assert lines[1:] == [
        (
            "  step    403/1000  40%   loss   0.5000     0.04 steps/s   elapsed 1m15s   left 4h08m"
            "   checkpoint 400"
        ),
        (
            "  step    406/1000  41%   loss   0.5000     0.04 steps/s   elapsed 2m30s   left 4h07m"
            "   checkpoint 400"
        ),
    ]


def test_format_duration():
    assert [format_duration(s) for s in (0, 59.4, 60, 3599, 3600, 90061)] == [
        "0s",
        "59s",
        "1m00s",
        "59m59s",
        "1h00m",
        "25h01m",
    ]


def test_refuses_bad_arguments():
    with pytest.raises(ValueError, match="`initial_step` must be an int in"):
        TrainingProgress(10, initial_step=10)
    with pytest.raises(ValueError, match="`interval_seconds` must be positive"):
        TrainingProgress(10, interval_seconds=0)
