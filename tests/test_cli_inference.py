"""`keras-siglip classify | embed | search | presets | --version`, end to end on a tiny
preset saved here and image files written here, run in-process through `cli.main`.

Each result is checked against a reference computed another way: the classifier's
`predict_proba`, the towers' raw outputs normalised with NumPy, scores from NumPy."""

import json
import os
import subprocess
import sys
from importlib import metadata

import keras
import numpy as np
import pytest
from PIL import Image

from keras_siglip import (
    Embedder,
    SigLIP,
    SigLIPPreprocessor,
    SigLIPTokenizer,
    ZeroShotClassifier,
    cli,
    list_presets,
)
from keras_siglip.evaluation import DEFAULT_TEMPLATES
from keras_siglip.preprocessing import load_images, train_sentencepiece
from keras_siglip.presets import get_preset
from keras_siglip.version import __version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = [
    f"a {size} {animal} on the {place}"
    for size in ("big", "small")
    for animal in ("cat", "dog", "fox")
    for place in ("grass", "road")
]
SIZE, LENGTH = 16, 8
LABELS = ["cat", "dog", "fox"]


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    keras.utils.set_random_seed(5)
    tokenizer = SigLIPTokenizer(train_sentencepiece(CORPUS, 22), sequence_length=LENGTH)
    model = SigLIP.from_variant(
        "Pico/8", image_size=SIZE, sequence_length=LENGTH, vocabulary_size=tokenizer.vocabulary_size
    )
    # A sharper temperature than the paper's start spreads the scores apart.
    model.log_temperature.assign(2.5)
    model.bias.assign(-1.0)
    path = str(tmp_path_factory.mktemp("preset") / "pico")
    model.save_to_preset(path, preprocessor=SigLIPPreprocessor(tokenizer, image_size=SIZE))
    return path


@pytest.fixture(scope="module")
def reference(preset):
    """The preset's model and tokenizer, loaded apart from the commands."""
    return SigLIP.from_preset(preset), SigLIPPreprocessor.from_preset(preset).tokenizer


def write_image(path, rng, height):
    pixels = rng.integers(0, 256, (height, 20, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_folder(folder, rng, count):
    os.makedirs(folder, exist_ok=True)
    for index in range(count):
        # Written out of order: the commands must sort a folder's images.
        write_image(os.path.join(folder, f"image_{count - 1 - index:02d}.png"), rng, 12 + index)
    with open(os.path.join(folder, "notes.txt"), "w") as file:
        file.write("not an image")
    return sorted(os.path.join(folder, f"image_{index:02d}.png") for index in range(count))


def run(capsys, *argv):
    assert cli.main(list(argv)) == 0
    return capsys.readouterr()


def unit(rows):
    rows = np.asarray(keras.ops.convert_to_numpy(rows), np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def numpy_image_embeddings(model, paths):
    return unit(model.image_encoder(load_images(paths, SIZE)))


def numpy_text_embeddings(model, tokenizer, texts):
    return unit(model.text_encoder(tokenizer(texts)))


def numpy_scores(model, image_embeddings, text_embedding):
    temperature = np.exp(float(keras.ops.convert_to_numpy(model.log_temperature)))
    bias = float(keras.ops.convert_to_numpy(model.bias))
    logits = temperature * image_embeddings @ text_embedding + bias
    return 1 / (1 + np.exp(-logits))


# --- classify ----------------------------------------------------------------------


@pytest.mark.slow
def test_classify_json_gives_predict_proba_in_input_order(tmp_path, capsys, preset):
    rng = np.random.default_rng(0)
    folder_images = write_folder(str(tmp_path / "photos"), rng, 5)
    single = str(tmp_path / "single.jpg")
    write_image(single, rng, 30)
    printed = run(
        capsys,
        "classify",
        "--preset",
        preset,
        "--labels",
        "cat, dog,fox",
        "--json",
        "--batch-size",
        "2",
        single,
        str(tmp_path / "photos"),
    )
    results = json.loads(printed.out)
    paths = [single, *folder_images]
    assert [result["image"] for result in results] == paths
    expected = ZeroShotClassifier.from_preset(preset, LABELS, DEFAULT_TEMPLATES).predict_proba(
        paths
    )
    got = np.array([[result["scores"][label] for label in LABELS] for result in results])
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert "classified 6/6 images" in printed.err


@pytest.mark.slow
def test_classify_prints_the_top_labels_and_takes_templates(tmp_path, capsys, preset):
    rng = np.random.default_rng(1)
    paths = write_folder(str(tmp_path / "photos"), rng, 3)
    templates = ["a {} on the grass", "a small {}"]
    printed = run(
        capsys,
        "classify",
        "--preset",
        preset,
        "--labels",
        "cat,dog,fox",
        "--top-k",
        "2",
        "--template",
        templates[0],
        "--templates",
        templates[1],
        *paths,
    )
    expected = ZeroShotClassifier.from_preset(preset, LABELS, templates).predict_proba(paths)
    lines = printed.out.strip().splitlines()
    assert len(lines) == len(paths)
    for line, path, row in zip(lines, paths, expected):
        best = np.argsort(-row)[:2]
        assert line == f"{path}: " + ", ".join(f"{LABELS[i]} {row[i]:.3f}" for i in best)


def test_classify_refuses_an_empty_label(tmp_path, preset, capsys):
    code = cli.main(["classify", "--preset", preset, "--labels", "cat,,dog", "x.png"])
    error = capsys.readouterr().err
    assert code == 2 and "--labels" in error and len(error.strip().splitlines()) == 1


# --- embed -------------------------------------------------------------------------


@pytest.mark.slow
def test_embed_images_writes_normalised_rows_in_order(tmp_path, capsys, preset, reference):
    model, _ = reference
    rng = np.random.default_rng(2)
    folder_images = write_folder(str(tmp_path / "photos"), rng, 5)
    single = str(tmp_path / "single.png")
    write_image(single, rng, 9)
    output = str(tmp_path / "out" / "embeddings.npy")
    os.makedirs(os.path.dirname(output))
    np.save(output, np.zeros((2, 2)))  # an older file, replaced whole
    printed = run(
        capsys,
        "embed",
        "--preset",
        preset,
        "--batch-size",
        "4",
        "--images",
        str(tmp_path / "photos"),
        single,
        "--output",
        output,
    )
    saved = np.load(output, allow_pickle=False)
    paths = [*folder_images, single]
    assert saved.dtype == np.float32 and saved.shape == (len(paths), model.embedding_dim)
    np.testing.assert_allclose(np.linalg.norm(saved, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(saved, numpy_image_embeddings(model, paths), atol=1e-5)
    embedder = Embedder.from_preset(preset, batch_size=3)
    np.testing.assert_allclose(saved, embedder.embed_images(paths), atol=1e-5)
    assert os.listdir(os.path.dirname(output)) == ["embeddings.npy"]  # no temporary left
    assert output in printed.out and f"({len(paths)}, {model.embedding_dim})" in printed.out
    assert "embedded 4/6 images" in printed.err and "embedded 6/6 images" in printed.err


@pytest.mark.slow
def test_embed_texts_json_names_each_row(tmp_path, capsys, preset, reference):
    model, tokenizer = reference
    texts = ["a big cat on the road", "a small fox", "dog"]
    output = str(tmp_path / "texts.npy")
    printed = run(
        capsys, "embed", "--preset", preset, "--texts", *texts, "--output", output, "--json"
    )
    report = json.loads(printed.out)
    assert report == {"output": output, "shape": [3, model.embedding_dim], "inputs": texts}
    saved = np.load(output, allow_pickle=False)
    np.testing.assert_allclose(saved, numpy_text_embeddings(model, tokenizer, texts), atol=1e-5)
    np.testing.assert_allclose(saved, Embedder.from_preset(preset).embed_texts(texts), atol=1e-5)


def test_embed_takes_images_or_texts_not_both(tmp_path, capsys, preset):
    with pytest.raises(SystemExit):
        cli.main(
            [
                "embed",
                "--preset",
                preset,
                "--images",
                "a.png",
                "--texts",
                "a",
                "--output",
                str(tmp_path / "x.npy"),
            ]
        )
    assert "not allowed with argument" in capsys.readouterr().err


# --- search ------------------------------------------------------------------------


def expected_ranking(model, tokenizer, paths, query):
    scores = numpy_scores(
        model,
        numpy_image_embeddings(model, paths),
        numpy_text_embeddings(model, tokenizer, [query])[0],
    )
    order = np.argsort(-scores, kind="stable")
    return [paths[i] for i in order], scores[order]


@pytest.mark.slow
def test_search_ranks_by_score_and_keeps_its_index_fresh(
    tmp_path, capsys, monkeypatch, preset, reference
):
    model, tokenizer = reference
    rng = np.random.default_rng(3)
    folder = str(tmp_path / "photos")
    paths = write_folder(folder, rng, 6)
    query = "a big dog on the grass"
    command = ["search", "--preset", preset, "--images", folder, query, "--top-k", "4", "--json"]

    first = run(capsys, *command)
    order, scores = expected_ranking(model, tokenizer, paths, query)
    results = json.loads(first.out)
    assert [result["image"] for result in results] == order[:4]
    np.testing.assert_allclose([result["score"] for result in results], scores[:4], atol=1e-5)
    assert os.path.isfile(folder + ".keras-siglip-index.npz")
    assert "6 added, 0 changed, 0 removed, 0 unchanged" in first.err

    embedded = []
    embed_images = Embedder.embed_images

    def counting(self, images, *args, **kwargs):
        embedded.extend(images)
        return embed_images(self, images, *args, **kwargs)

    monkeypatch.setattr(Embedder, "embed_images", counting)
    second = run(capsys, *command)
    assert embedded == []  # the cached embeddings, not recomputed
    assert json.loads(second.out) == results
    assert "0 added, 0 changed, 0 removed, 6 unchanged" in second.err

    write_image(paths[0], rng, 40)  # new content and size
    os.remove(paths[1])
    added = os.path.join(folder, "sub", "new.png")
    os.makedirs(os.path.dirname(added))
    write_image(added, rng, 17)
    third = run(capsys, *command[:-1])  # plain text this time
    assert sorted(embedded) == sorted([paths[0], added])
    assert "1 added, 1 changed, 1 removed, 4 unchanged" in third.err
    now = sorted([added, paths[0], *paths[2:]])
    order, scores = expected_ranking(model, tokenizer, now, query)
    lines = third.out.strip().splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == order[:4]
    np.testing.assert_allclose([float(line.split()[0]) for line in lines], scores[:4], atol=1e-4)


def test_search_index_goes_where_asked(tmp_path, capsys, preset):
    folder = str(tmp_path / "photos")
    write_folder(folder, np.random.default_rng(4), 2)
    index = str(tmp_path / "cache" / "photos.npz")
    os.makedirs(os.path.dirname(index))
    run(capsys, "search", "--preset", preset, "--images", folder, "cat", "--index", index)
    assert os.path.isfile(index) and not os.path.exists(folder + ".keras-siglip-index.npz")


# --- presets, --version, --help ----------------------------------------------------


def test_presets_lists_every_builtin_preset(capsys):
    text = run(capsys, "presets").out
    rows = text.strip().splitlines()[1:]
    assert [row.split()[0] for row in rows] == list_presets()
    listed = json.loads(run(capsys, "presets", "--json").out)
    assert [row["name"] for row in listed] == list_presets()
    for row in listed:
        preset = get_preset(row["name"])
        assert row["weights"] == bool(preset["weights"])
        assert row["parameters"] == preset["parameters"]
        assert row["image_size"] == preset["config"]["image_size"]
        assert row["sequence_length"] == preset["config"]["sequence_length"]
    base = next(row for row in rows if row.startswith("siglip_base_patch16_224 "))
    assert base.split()[1:4] == ["B/16", "203.2M", "224"]


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"keras-siglip {__version__}\n"
    assert __version__ == metadata.version("keras-siglip")


@pytest.mark.parametrize("command", ["classify", "embed", "search", "presets"])
def test_each_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: keras-siglip {command}")
    assert "--json" in out


@pytest.mark.slow
def test_console_entry_point_prints_the_version():
    (entry,) = metadata.entry_points(group="console_scripts", name="keras-siglip")
    assert entry.value == "keras_siglip.cli:main"
    # The entry point's function, run as its own process with this checkout's package.
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from keras_siglip.cli import main; sys.exit(main())",
            "--version",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout == f"keras-siglip {__version__}\n"
