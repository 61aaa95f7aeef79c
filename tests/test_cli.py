"""`keras-siglip train` with a tiny budget writes a loadable model and metrics."""

import json
import os

import keras
import numpy as np
import pytest

from keras_siglip import SigLIP, cli


@pytest.mark.slow
def test_train_smoke_run_writes_model_and_metrics(tmp_path):
    output = str(tmp_path / "run")
    metrics = cli.main(
        ["train", "--steps", "3", "--batch-size", "16", "--train-pairs", "64",
         "--variant", "Pico/8", "--image-size", "16", "--output-dir", output]
    )
    assert metrics == 0
    with open(os.path.join(output, "metrics.json")) as handle:
        saved = json.load(handle)
    assert saved["retrieval_candidates"] == 96
    for key in ("i2t_recall@1", "t2i_recall@1", "i2t_recall@5", "t2i_recall@5"):
        assert 0.0 <= saved[key] <= 1.0
    assert saved["train_seconds"] > 0
    model = keras.saving.load_model(os.path.join(output, "model.keras"))
    assert isinstance(model, SigLIP)
    assert model.image_size == 16
    logits = model({"images": np.zeros((2, 16, 16, 3), "float32"), "token_ids": np.ones((2, 16), "int32")})
    assert tuple(logits.shape) == (2, 2)


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--dataset", "--steps", "--batch-size", "--image-size", "--variant", "--loss", "--seed", "--output-dir"):
        assert option in text


def test_bad_option_values_are_refused(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--steps", "0"])
    assert "must be a positive integer, got 0" in capsys.readouterr().err
