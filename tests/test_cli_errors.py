"""`keras-siglip` errors: one line on stderr, exit status 2, no traceback unless
`--debug`."""

import os
import subprocess
import sys

import keras
import pytest

from keras_siglip import cli


def run(argv, capsys):
    """`keras-siglip ARGV` in this process: (exit status, stdout, stderr)."""
    try:
        status = cli.main(argv)
    except SystemExit as exit:  # argparse ends usage errors this way
        status = exit.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status, err, *fragments):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error:" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "flag,value,expected",
    [
        ("--learning-rate", "nan", "argument --learning-rate: must be a finite number, got 'nan'"),
        ("--learning-rate", "inf", "argument --learning-rate: must be a finite number, got 'inf'"),
        ("--learning-rate", "0", "argument --learning-rate: must be a positive number, got 0"),
        ("--batch-size", "0", "argument --batch-size: must be a positive integer, got 0"),
        ("--steps", "-1", "argument --steps: must be a positive integer, got -1"),
        ("--steps", "ten", "argument --steps: expected an integer, got 'ten'"),
        ("--weight-decay=-1e-4", None, "argument --weight-decay: must be a number >= 0"),
        ("--weight-decay", "nan", "argument --weight-decay: must be a finite number"),
        ("--temperature-and-bias-learning-rate-multiplier", "inf", "must be a finite number"),
        ("--eval-augmentations", "-2", "argument --eval-augmentations: must be an integer >= 0"),
    ],
)
def test_bad_numbers_are_refused_at_parsing_naming_the_flag(capsys, flag, value, expected):
    status, _, err = run(["train", flag] + ([value] if value is not None else []), capsys)
    assert_one_line_error(status, err, "keras-siglip train: error:", expected)


def test_usage_errors_are_one_line(capsys):
    status, _, err = run(["train", "--no-such-flag"], capsys)
    assert_one_line_error(status, err, "unrecognized arguments: --no-such-flag", "--help")
    status, _, err = run(["frobnicate"], capsys)
    assert_one_line_error(status, err, "invalid choice: 'frobnicate'")


def test_a_missing_data_path_is_one_line(capsys, tmp_path):
    missing = str(tmp_path / "no-shards")
    status, _, err = run(
        ["train", "--data", missing, "--output-dir", str(tmp_path / "out")], capsys
    )
    assert_one_line_error(status, err, "keras-siglip train: error: --data", missing)


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="the corpus check runs in tf.data, the same under every backend",
)
def test_a_corpus_without_a_usable_sample_is_one_line(capsys, tmp_path):
    import tarfile

    shard = tmp_path / "bad.tar"
    with tarfile.open(shard, "w") as archive:
        for index in range(3):
            for extension, data in (("jpg", b"not an image"), ("txt", b"a cat")):
                member = tmp_path / f"{index:04d}.{extension}"
                member.write_bytes(data)
                archive.add(member, arcname=member.name)
    arguments = ["train", "--data", str(shard), "--steps", "2", "--batch-size", "32"]
    status, _, err = run(arguments + ["--output-dir", str(tmp_path / "out")], capsys)
    assert_one_line_error(status, err, "hold no usable sample", "3 bad_image")
    assert not (tmp_path / "out" / "config.json").exists()


def test_converting_a_missing_directory_is_one_line(capsys, tmp_path):
    missing = str(tmp_path / "no-checkpoint")
    status, _, err = run(["convert", missing, str(tmp_path / "out")], capsys)
    assert_one_line_error(status, err, "keras-siglip convert: error: Unknown preset", missing)
    assert not os.path.exists(tmp_path / "out")


def test_debug_shows_the_traceback_before_or_after_the_subcommand(capsys, tmp_path):
    missing = str(tmp_path / "no-checkpoint")
    for argv in (
        ["--debug", "convert", missing, str(tmp_path / "out")],
        ["convert", missing, str(tmp_path / "out"), "--debug"],
    ):
        with pytest.raises(ValueError, match="Unknown preset"):
            cli.main(argv)


def test_interrupt_is_one_line_with_status_130(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "convert", interrupted)
    status, _, err = run(["convert", "a", "b"], capsys)
    assert status == 130 and err.strip() == "keras-siglip convert: interrupted"


def test_a_library_bug_keeps_its_traceback(monkeypatch):
    def broken(args):
        raise KeyError("a bug, not a user error")

    monkeypatch.setitem(cli.COMMANDS, "convert", broken)
    with pytest.raises(KeyError):
        cli.main(["convert", "a", "b"])


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--variant", "Huge/9"], "Unknown variant name 'Huge' in 'Huge/9'"),
        (["--batch-size", "16"], "--batch-size: `batch_size` must exceed the 20 digit images"),
    ],
)
def test_train_settings_that_cannot_work_are_one_line(capsys, tmp_path, argv, expected):
    status, _, err = run(["train", *argv, "--steps", "1", "--output-dir", str(tmp_path)], capsys)
    assert_one_line_error(status, err, "keras-siglip train: error:", expected)


@pytest.mark.slow
def test_the_command_line_process_prints_no_traceback(tmp_path):
    missing = str(tmp_path / "no-checkpoint")
    process = subprocess.run(
        [sys.executable, "-m", "keras_siglip.cli", "convert", missing, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    errors = [line for line in process.stderr.splitlines() if "keras-siglip" in line]
    assert len(errors) == 1 and "Unknown preset" in errors[0]
