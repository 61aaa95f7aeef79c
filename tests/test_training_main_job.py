"""`keras-siglip train` as a job: fine-tuning, checkpoints and resume, validation on the
user's corpus, the locked output directory, and the stop on a non-finite loss.

Every run is tiny (Pico/8 at 16 pixels, a few steps); presets and corpora are made
in the test. Expected values come from the preset's own weights, the hold-out's
predicate applied to the keys as the writers name them, and file bytes.
"""

import json
import os
import re
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import TINY_MODEL

from keras_siglip import SigLIP, cli
from keras_siglip.data import write_corpus
from keras_siglip.data.holdout import HoldOut
from keras_siglip.preprocessing import (
    SigLIPPreprocessor,
    SigLIPTokenizer,
    train_sentencepiece,
)
from keras_siglip.training.checkpoints import (
    checkpoint_directory,
    list_checkpoints,
    save_checkpoint,
)
from keras_siglip.training.main_job import NonFiniteTrainingError
from keras_siglip.training.run_directory import (
    LOCK_FILE,
    OutputDirectoryError,
    RunDirectory,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The embedded data at its smallest, a model at its smallest.
TINY = ["--batch-size", "24", "--held-out", "40", "--eval-augmentations", "0"]
SCRATCH = TINY_MODEL
WORDS = ["red", "blue", "green", "cat", "dog", "bird", "fish", "tree", "big", "small"]


def tiny_preset(path, captions=("a red cat", "a blue dog", "the digit seven", "a smiling face")):
    tokenizer = SigLIPTokenizer(
        train_sentencepiece(list(captions) * 20, 60, hard_vocab_limit=False), 12
    )
    preprocessor = SigLIPPreprocessor(tokenizer, image_size=16)
    model = SigLIP.from_variant(
        "Pico/8", image_size=16, sequence_length=12, vocabulary_size=tokenizer.vocabulary_size
    )
    model.save_to_preset(str(path), preprocessor=preprocessor)
    return model, preprocessor


def read_metrics(output):
    with open(os.path.join(output, "metrics.json")) as file:
        return json.load(file)


def directory_bytes(path):
    found = {}
    for root, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as file:
                found[os.path.relpath(os.path.join(root, name), path)] = file.read()
    return found


@pytest.fixture
def record_fit(monkeypatch):
    """Records the model's weights when `fit` is called, before its first step."""
    calls = []
    fit = SigLIP.fit

    def recording_fit(self, *args, **kwargs):
        calls.append([keras.ops.convert_to_numpy(v.value).copy() for v in self.weights])
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(SigLIP, "fit", recording_fit)
    return calls


def tiny_corpus(folder, count=64):
    captions = [caption(i) for i in range(count)]
    images = np.random.default_rng(0).integers(0, 256, (count, 16, 16, 3), dtype=np.uint8)
    write_corpus(folder, "webdataset", images, captions, samples_per_shard=count // 4)
    return captions


@pytest.mark.slow
def assert_cli_error(capsys, arguments, pattern):
    """`keras-siglip ARGUMENTS` fails with status 2 and one stderr line matching `pattern`."""
    capsys.readouterr()
    assert cli.main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and re.search(pattern, error), error


def test_fine_tunes_from_a_preset_with_a_locked_image_tower(tmp_path, record_fit, capsys):
    preset = tmp_path / "preset"
    model, preprocessor = tiny_preset(preset, captions=[caption(i) for i in range(64)])
    start = [keras.ops.convert_to_numpy(variable.value).copy() for variable in model.weights]
    image_positions = {id(variable) for variable in model.image_encoder.weights}
    text_positions = {id(variable) for variable in model.text_encoder.weights}
    image = [i for i, variable in enumerate(model.weights) if id(variable) in image_positions]
    text = [i for i, variable in enumerate(model.weights) if id(variable) in text_positions]
    assert image and text
    tiny_corpus(tmp_path / "corpus")
    output = str(tmp_path / "run")
    args = [
        "train",
        "--init-from",
        str(preset),
        "--locked-towers",
        "image",
        "--steps",
        "3",
        "--data",
        str(tmp_path / "corpus"),
        "--batch-size",
        "8",
        "--validation-fraction",
        "0",
        "--shuffle-buffer",
        "16",
        "--output-dir",
        output,
    ]
    assert cli.main(args) == 0

    (before_training,) = record_fit
    assert len(before_training) == len(start)
    for value, expected in zip(before_training, start):
        np.testing.assert_array_equal(value, expected)
    tuned = SigLIP.from_preset(output)
    assert tuned.image_size == 16 and tuned.sequence_length == 12
    after = [keras.ops.convert_to_numpy(variable.value) for variable in tuned.weights]
    for i in image:  # LiT: the locked tower is exactly the preset's
        np.testing.assert_array_equal(after[i], start[i])
    assert any(not np.array_equal(after[i], start[i]) for i in text)
    # The preset's tokenizer, not a new vocabulary.
    texts = [caption(3), caption(17)]
    np.testing.assert_array_equal(
        SigLIPPreprocessor.from_preset(output)({"texts": texts})["token_ids"],
        preprocessor({"texts": texts})["token_ids"],
    )
    printed = capsys.readouterr().out
    assert "trained a SentencePiece vocabulary" not in printed and "locked towers: image" in printed
    metrics = read_metrics(output)
    assert metrics["steps"] == 3 and metrics["resumed_from_step"] is None


def test_fine_tuning_refuses_settings_that_contradict_the_preset(tmp_path, capsys):
    preset = tmp_path / "preset"
    tiny_preset(preset)
    common = ["train", "--init-from", str(preset), "--output-dir", str(tmp_path / "run")]
    assert_cli_error(
        capsys,
        common + ["--image-size", "32"],
        r"--init-from: --image-size 32 contradicts the preset's image size 16",
    )
    assert_cli_error(
        capsys,
        common + ["--sequence-length", "64"],
        r"--sequence-length 64 contradicts the preset's text length 12",
    )
    assert_cli_error(
        capsys, common + ["--variant", "Pico/8"], "--variant cannot be given with --init-from"
    )
    assert_cli_error(
        capsys,
        ["train", "--locked-towers", "image", "--output-dir", str(tmp_path / "run")],
        "--locked-towers locks a pretrained tower .* needs --init-from",
    )
    # The same values as the preset's are accepted (refused later only for the missing run).
    args = cli.build_parser().parse_args(common + ["--image-size", "16", "--locked-towers", "text"])
    assert args.image_size == 16 and args.locked_towers == "text" and args.variant is None


KILL_AFTER_FIRST_CHECKPOINT = """
import os, signal, sys
from keras_siglip import cli
from keras_siglip.training import checkpoints

save = checkpoints.CheckpointCallback.save

def save_then_die(self):
    checkpoint = save(self)
    os.kill(os.getpid(), signal.SIGKILL)

checkpoints.CheckpointCallback.save = save_then_die
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_total_steps(tmp_path, record_fit, capsys):
    output = str(tmp_path / "run")
    args = (
        [
            "train",
            "--steps",
            "5",
            "--checkpoint-every",
            "2",
            "--keep-checkpoints",
            "2",
            "--output-dir",
            output,
        ]
        + TINY
        + SCRATCH
    )
    script = tmp_path / "killed_run.py"
    script.write_text(KILL_AFTER_FIRST_CHECKPOINT)
    environment = {**os.environ, "PYTHONPATH": ROOT, "KERAS_BACKEND": keras.backend.backend()}
    killed = subprocess.run(
        [sys.executable, str(script), *args],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert [checkpoint.step for checkpoint in list_checkpoints(checkpoint_directory(output))] == [2]
    assert not os.path.exists(os.path.join(output, "metrics.json"))
    with open(os.path.join(output, LOCK_FILE)) as file:
        assert file.read().strip().isdigit()  # the killed run's lock, now stale

    with pytest.warns(UserWarning, match="Taking over the stale lock"):
        assert cli.main(args + ["--resume"]) == 0
    printed = capsys.readouterr().out
    assert "Resumed from" in printed and "at step 2 of 5" in printed and "(steps 3 to 5)" in printed
    metrics = read_metrics(output)
    assert metrics["steps"] == 5 and metrics["resumed_from_step"] == 2
    checkpoints = list_checkpoints(checkpoint_directory(output))
    assert [checkpoint.step for checkpoint in checkpoints] == [4, 5]  # keeps the last 2
    assert checkpoints[-1].arguments["steps"] == 5
    assert not os.path.exists(os.path.join(output, LOCK_FILE))

    # Resuming the finished run says so and trains nothing.
    calls = len(record_fit)
    assert cli.main(args + ["--resume"]) == 0
    assert "already took its 5 steps" in capsys.readouterr().out
    assert len(record_fit) == calls and read_metrics(output) == metrics
    # Other settings than the checkpointed run's are refused by name.
    assert_cli_error(
        capsys,
        [a if a != "5" else "9" for a in args] + ["--resume"],
        r"--resume: .* other settings: --steps 5 there, 9 now",
    )


def test_resume_and_fresh_runs_check_the_checkpoints(tmp_path, capsys):
    output = tmp_path / "run"
    assert_cli_error(
        capsys,
        ["train", "--resume", "--output-dir", str(output)],
        "--resume: .* holds no checkpoint to resume",
    )
    assert not os.path.exists(output / LOCK_FILE), "the lock is released on errors too"
    model = SigLIP.from_variant("Pico/8", image_size=16, sequence_length=4, vocabulary_size=20)
    model.compile()
    save_checkpoint(model, checkpoint_directory(output), 3, arguments={"steps": 7})
    assert_cli_error(
        capsys,
        ["train", "--output-dir", str(output)],
        "--output-dir .* holds checkpoints of an earlier run .* pass --resume",
    )
    assert_cli_error(
        capsys,
        ["train", "--resume", "--output-dir", str(output)],
        "--resume: .* other settings: --steps 7 there, 1800 now",
    )


def test_the_output_directory_is_checked_and_locked_before_training(tmp_path, capsys):
    output = tmp_path / "run"
    output.mkdir()
    (output / LOCK_FILE).write_text(f"{os.getpid()}\n")
    assert_cli_error(
        capsys,
        ["train", "--output-dir", str(output)],
        rf"--output-dir .* is in use by another run \(process {os.getpid()},",
    )
    assert (output / LOCK_FILE).read_text() == f"{os.getpid()}\n", "the holder's lock stays"
    a_file = tmp_path / "file"
    a_file.write_text("notes")
    assert_cli_error(
        capsys,
        ["train", "--output-dir", str(a_file)],
        "--output-dir .* exists and is not a directory",
    )
    assert a_file.read_text() == "notes"


def test_a_stale_lock_is_taken_over_and_the_lock_released(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(finished.stdout)
    (tmp_path / LOCK_FILE).write_text(f"{dead_pid}\n")
    run_directory = RunDirectory(tmp_path)
    with pytest.warns(
        UserWarning, match=f"stale lock .* of process {dead_pid}, which no longer runs"
    ):
        run_directory.acquire()
    assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    with pytest.raises(
        OutputDirectoryError, match=f"in use by another run \\(process {os.getpid()}"
    ):
        RunDirectory(tmp_path).acquire()
    run_directory.release()
    assert not (tmp_path / LOCK_FILE).exists()
    with pytest.raises(RuntimeError), RunDirectory(tmp_path / "new" / "folder"):
        raise RuntimeError("a failed run")
    assert os.listdir(tmp_path / "new" / "folder") == []


@pytest.mark.slow
def test_a_non_finite_loss_stops_the_run_and_keeps_the_earlier_preset(tmp_path):
    output = tmp_path / "run"
    tiny_preset(output)
    before = directory_bytes(output)
    args = cli.build_parser().parse_args(
        ["train", "--steps", "6", "--learning-rate", "1e30", "--output-dir", str(output)]
        + TINY
        + SCRATCH
    )
    with pytest.raises(
        NonFiniteTrainingError, match=r"(The loss became nan at step \d|weights hold NaN)"
    ) as error:
        cli.train(args)
    assert 1 <= error.value.step <= 6
    assert directory_bytes(output) == before, "the earlier preset is byte-for-byte unchanged"


def caption(index):
    return f"{WORDS[index % 10]} {WORDS[index // 10 % 10]} {WORDS[index // 100 % 10]}"


@pytest.mark.slow
def test_validation_holds_out_pairs_of_the_corpus(tmp_path, monkeypatch, capsys):
    count = 160
    corpus = tmp_path / "corpus"
    tiny_corpus(corpus, count)
    fraction = 0.2
    split = HoldOut(fraction)
    held_out = [i for i in range(count) if split.is_validation(f"{i:09d}")]
    assert 10 <= len(held_out) <= 60

    trained_keys = []
    keep = HoldOut.keep

    def recording_keep(self, key):
        kept = keep(self, key)
        if kept:
            trained_keys.append(key)
        return kept

    monkeypatch.setattr(HoldOut, "keep", recording_keep)
    output = str(tmp_path / "run")
    status = cli.main(
        [
            "train",
            "--data",
            str(corpus),
            "--validation-fraction",
            str(fraction),
            "--steps",
            "3",
            "--batch-size",
            "8",
            "--shuffle-buffer",
            "20",
            "--variant",
            "Pico/8",
            "--image-size",
            "16",
            "--vocabulary-size",
            "40",
            "--sequence-length",
            "8",
            "--output-dir",
            output,
        ]
    )
    assert status == 0
    metrics = read_metrics(output)
    assert metrics["validation_samples"] == len(held_out)
    for key in (
        "validation_i2t_recall@1",
        "validation_t2i_recall@1",
        "validation_i2t_recall@5",
        "validation_t2i_recall@5",
    ):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["validation_i2t_recall@5"] >= metrics["validation_i2t_recall@1"]
    assert "zero_shot_top1" not in metrics, "the embedded evaluation is off with --data"
    assert trained_keys and not {f"{i:09d}" for i in held_out} & set(trained_keys)
    printed = capsys.readouterr().out
    assert f"Retrieval among {len(held_out)} validation pairs" in printed
    assert "validation_i2t_recall@1" in printed
