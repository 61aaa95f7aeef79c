"""`keras-siglip train` with a tiny budget writes a loadable preset and metrics."""

import json
import os
import re

import keras
import numpy as np
import pytest
from helpers import TINY_MODEL

from keras_siglip import SigLIP, cli
from keras_siglip.data.corpus import REASONS
from keras_siglip.data.emoji_batches import TrainingStream
from keras_siglip.preprocessing import SigLIPPreprocessor

METRIC_KEYS = (
    "zero_shot_top1",
    "zero_shot_chance",
    "i2t_recall@1",
    "t2i_recall@1",
    "i2t_recall@5",
    "t2i_recall@5",
    "retrieval_candidates",
    "train_seconds",
)


@pytest.mark.slow
def test_train_smoke_run_writes_a_loadable_preset_and_metrics(tmp_path, capsys, monkeypatch):
    output = str(tmp_path / "run")
    compiled = {}
    compile_model = SigLIP.compile

    def recording_compile(self, *args, **kwargs):
        compiled.update(kwargs)
        return compile_model(self, *args, **kwargs)

    monkeypatch.setattr(SigLIP, "compile", recording_compile)
    status = cli.main(
        [
            "train",
            "--steps",
            "3",
            "--batch-size",
            "24",
            *TINY_MODEL,
            "--held-out",
            "40",
            "--output-dir",
            output,
            "--learning-rate",
            "0.002",
            "--weight-decay",
            "0.0005",
            "--temperature-and-bias-learning-rate-multiplier",
            "5",
            "--held-out-split",
            "random",
            "--eval-augmentations",
            "2",
        ]
    )
    assert status == 0
    assert compiled["learning_rate"] == 0.002 and compiled["weight_decay"] == 0.0005
    assert compiled["temperature_and_bias_learning_rate_multiplier"] == 5.0
    printed = capsys.readouterr().out
    assert (
        "zero_shot_top1" in printed and "(chance 10.0%)" in printed and "(chance 2.5%)" in printed
    )

    with open(os.path.join(output, "metrics.json")) as handle:
        saved = json.load(handle)
    assert set(METRIC_KEYS) <= set(saved)
    assert saved["retrieval_candidates"] == 40
    assert saved["zero_shot_chance"] == pytest.approx(0.1)
    for key in METRIC_KEYS[:6]:
        assert 0.0 <= saved[key] <= 1.0
    assert saved["train_seconds"] > 0
    # The held-out names split by whether every word of theirs was trained on: the two
    # subsets' recalls, weighted by their sizes, give the recall over all 40 items.
    from keras_siglip.data import known_word_mask, load_emoji

    data = load_emoji(seed=0, num_held_out=40, render_size=16)
    known = known_word_mask(data.test.captions, data.training_captions())
    assert (
        saved["known_words_items"] == known.sum() and saved["new_words_items"] == 40 - known.sum()
    )
    for key in METRIC_KEYS[2:6]:
        parts = [
            saved[f"{prefix}_items"] * saved.get(f"{prefix}_{key}", 0.0)
            for prefix in ("known_words", "new_words")
        ]
        assert sum(parts) / 40 == pytest.approx(saved[key])
    assert f"{known.sum()} names with only words that training captions use" in printed
    assert saved["held_out_split"] == "random" and saved["eval_augmentations"] == 2
    assert "held-out emoji and their names, none seen in training (drawn at random)" in printed
    assert (
        "the mean of it and 2 copies augmented as in training; the images alone give zero_shot_top1"
        in printed
    )

    model = SigLIP.from_preset(output)
    preprocessor = SigLIPPreprocessor.from_preset(output)
    assert model.image_size == 16 and model.sequence_length == 12
    inputs = preprocessor(
        {"images": np.zeros((2, 40, 30, 3), "uint8"), "texts": ["dog face", "the digit seven"]}
    )
    assert inputs["token_ids"].shape == (2, 12)
    logits = keras.ops.convert_to_numpy(model(inputs))
    assert logits.shape == (2, 2) and np.isfinite(logits).all()
    with open(os.path.join(output, "metadata.json")) as handle:
        metadata = json.load(handle)
    assert metadata["metrics"]["retrieval_candidates"] == 40
    assert "OpenMoji" in metadata["training"]["attribution"]

    # The images alone (`single_view_*`): recomputed from the saved preset with NumPy.
    def recall(similarity, k):
        positives = np.diag(similarity)[:, None]
        return float(np.mean((similarity > positives).sum(axis=1) < k))

    images = preprocessor({"images": data.test.images})["images"]
    image_embeddings = keras.ops.convert_to_numpy(model.encode_images(images)).astype("float64")
    text_embeddings = keras.ops.convert_to_numpy(
        model.encode_texts(preprocessor({"texts": data.test.captions})["token_ids"])
    )
    similarity = image_embeddings @ text_embeddings.astype("float64").T
    for k in (1, 5):
        assert saved[f"single_view_i2t_recall@{k}"] == pytest.approx(
            recall(similarity, k), abs=1 / 40 + 1e-9
        )
        assert saved[f"single_view_t2i_recall@{k}"] == pytest.approx(
            recall(similarity.T, k), abs=1 / 40 + 1e-9
        )
    assert 0.0 <= saved["single_view_zero_shot_top1"] <= 1.0


def test_defaults_hold_out_known_words_and_average_augmented_views():
    args = cli.build_parser().parse_args(["train"])
    assert args.held_out_split == "known-words" and args.eval_augmentations == 32
    assert args.temperature_and_bias_learning_rate_multiplier == 10.0
    assert cli.build_parser().parse_args(["export-corpus", "out"]).held_out_split == "known-words"
    from keras_siglip.data import emoji

    assert cli.HELD_OUT_SPLITS == emoji.HELD_OUT_SPLITS


def test_training_batches_hold_distinct_items_and_every_digit(tmp_path):
    from keras_siglip.data import emoji, load_emoji
    from keras_siglip.preprocessing import SigLIPTokenizer, train_sentencepiece

    data = load_emoji(render_size=16, num_held_out=20)
    tokenizer = SigLIPTokenizer(
        train_sentencepiece(data.training_captions(), 200), sequence_length=10
    )
    stream = TrainingStream(
        data, SigLIPPreprocessor(tokenizer, image_size=16), batch_size=40, seed=0
    )
    batch = stream.batch()
    assert batch["images"].shape == (40, 16, 16, 3) and batch["token_ids"].shape == (40, 10)
    assert batch["images"].min() >= -1.0001 and batch["images"].max() <= 1.0001
    texts = [tokenizer.detokenize(ids) for ids in batch["token_ids"]]
    digit_captions = {
        tokenizer.detokenize(ids): label
        for label, name in enumerate(data.class_names)
        for ids in tokenizer([template.format(name) for template in emoji.DIGIT_CAPTION_TEMPLATES])
    }
    labels = [digit_captions[text] for text in texts if text in digit_captions]
    assert sorted(labels) == sorted(list(range(10)) * 2), "two images of every digit class"
    emoji_texts = [text for text in texts if text not in digit_captions]
    assert len(emoji_texts) == 20 and len(set(emoji_texts)) == 20, "distinct emoji"
    # `batches()` (what `fit` consumes) yields the same draws as `batch()` for the seed.
    again = TrainingStream(
        data, SigLIPPreprocessor(tokenizer, image_size=16), batch_size=40, seed=0
    ).batches()
    (first,) = next(again)
    np.testing.assert_array_equal(first["images"], batch["images"])
    np.testing.assert_array_equal(first["token_ids"], batch["token_ids"])
    (second,) = next(again)
    assert not np.array_equal(second["token_ids"], first["token_ids"])
    with pytest.raises(
        ValueError,
        match=r"must exceed the 20 digit images \(2 per class\) each batch holds, got 20",
    ):
        TrainingStream(data, SigLIPPreprocessor(tokenizer, image_size=16), batch_size=20, seed=0)


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--dataset",
        "--data",
        "--image-root",
        "--steps",
        "--batch-size",
        "--image-size",
        "--variant",
        "--loss",
        "--seed",
        "--output-dir",
        "--learning-rate",
        "--weight-decay",
        "--temperature-and-bias-learning-rate-multiplier",
        "--held-out-split",
        "--eval-augmentations",
    ):
        assert option in text


def test_bad_option_values_are_refused(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--steps", "0"])
    assert "must be a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--dataset", "imagenet"])
    assert "invalid choice: 'imagenet'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--weight-decay", "-0.1"])
    assert "--weight-decay: must be a number >= 0, got -0.1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--temperature-and-bias-learning-rate-multiplier", "0"])
    assert "must be a positive number, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--eval-augmentations", "-1"])
    assert "--eval-augmentations: must be an integer >= 0, got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--held-out-split", "words"])
    assert "invalid choice: 'words'" in capsys.readouterr().err


@pytest.mark.parametrize("dataset", sorted(cli.DATASETS))
def test_each_dataset_trains_its_default_vocabulary(dataset):
    from keras_siglip.data import load_emoji
    from keras_siglip.preprocessing import SigLIPTokenizer, train_sentencepiece

    languages, vocabulary_size = cli.DATASETS[dataset]
    data = load_emoji(render_size=8, languages=languages)
    tokenizer = SigLIPTokenizer(
        train_sentencepiece(data.training_captions(), vocabulary_size, hard_vocab_limit=False), 16
    )
    assert tokenizer.vocabulary_size <= vocabulary_size
    captions = data.training_captions()
    ids = tokenizer(captions)
    assert (ids[:, -1] == tokenizer.eos_id).all()
    unknown = 2
    chinese = [
        i for i, caption in enumerate(captions) if any("\u4e00" <= c <= "\u9fff" for c in caption)
    ]
    if dataset == "emoji-multilingual":
        known = [unknown not in ids[i] for i in chinese]
        assert len(chinese) > 1000 and np.mean(known) > 0.95, "Chinese names are in the vocabulary"
    else:
        assert not chinese


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="the command is the same on every backend; "
    "fit on a corpus runs on each in test_data_corpus.py",
)
def test_train_on_an_exported_corpus(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CPU_ALLOCATOR_USE_BFC", raising=False)
    corpus = str(tmp_path / "corpus")
    assert (
        cli.main(
            [
                "export-corpus",
                corpus,
                "--format",
                "webdataset",
                "--image-size",
                "16",
                "--samples-per-shard",
                "800",
            ]
        )
        == 0
    )
    assert (
        "Wrote 2,962 image-caption pairs (train split) to 4 webdataset file(s)"
        in capsys.readouterr().out
    )
    output = str(tmp_path / "run")
    status = cli.main(
        [
            "train",
            "--data",
            os.path.join(corpus, "*.tar"),
            "--steps",
            "3",
            "--batch-size",
            "24",
            *TINY_MODEL,
            "--output-dir",
            output,
            "--eval-embedded",
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert (
        "Training on 4 webdataset file(s)" in printed
        and "read 2,962 captions of the corpus" in printed
    )
    assert "skipped 0" in printed and "(chance 0.3%)" in printed
    with open(os.path.join(output, "metrics.json")) as handle:
        saved = json.load(handle)
    assert saved["corpus_samples_read"] >= 3 * 24 and saved["corpus_samples_skipped"] == 0
    # 2% of the corpus held out by default: the hold-out's predicate over the writer's keys.
    from keras_siglip.data.holdout import HoldOut

    assert saved["validation_samples"] == sum(
        HoldOut(0.02).is_validation(f"{i:09d}") for i in range(2962)
    )
    assert saved["steps"] == 3 and saved["resumed_from_step"] is None
    assert set(saved["corpus_skipped_by_reason"]) == set(REASONS)
    assert SigLIP.from_preset(output).image_size == 16
    # The command asks for TensorFlow's arena allocator (effective in its own process).
    assert os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "true"


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="writing files does not depend on the Keras backend"
)
@pytest.mark.parametrize("corpus_format", ["tfrecord", "tsv"])
def test_export_corpus_writes_the_split_with_its_names(corpus_format, tmp_path, capsys):
    from keras_siglip.data import corpus_captions, load_emoji

    output = str(tmp_path / "corpus")
    cli.main(
        [
            "export-corpus",
            output,
            "--format",
            corpus_format,
            "--split",
            "test",
            "--image-size",
            "8",
            "--held-out",
            "30",
        ]
    )
    data = load_emoji(render_size=8, num_held_out=30, held_out_split="known-words")
    assert corpus_captions(output) == data.test.captions + data.digits_test.captions
    assert "(test split)" in capsys.readouterr().out


def test_train_data_errors_name_the_option(tmp_path, capsys):
    assert cli.main(["train", "--data", str(tmp_path)]) == 2
    assert re.search("--data: `path_or_glob` .*matches no corpus file", capsys.readouterr().err)
    (tmp_path / "00000.tar").write_bytes(b"")
    assert cli.main(["train", "--data", str(tmp_path), "--image-root", str(tmp_path)]) == 2
    assert re.search(
        "--image-root is for caption tables, but --data .* holds webdataset files",
        capsys.readouterr().err,
    )
