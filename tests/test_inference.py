"""Inference from raw files: `Embedder`, `classify`, `embed`, `ImageIndex` and `search`."""

import os

import keras
import numpy as np
import pytest
from PIL import Image
from test_preprocessing_image import reference

from keras_siglip import (
    Embedder,
    SigLIP,
    SigLIPPreprocessor,
    SigLIPTokenizer,
    ZeroShotClassifier,
)
from keras_siglip.inference import ImageIndex, classify, embed, expand_images, search
from keras_siglip.preprocessing import train_sentencepiece

CORPUS = [
    f"a {size} {animal} on the {place}"
    for size in ("big", "small")
    for animal in ("cat", "dog", "fox")
    for place in ("grass", "road")
]
SIZE = 16


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    keras.utils.set_random_seed(3)
    tokenizer = SigLIPTokenizer(train_sentencepiece(CORPUS, 22), sequence_length=8)
    model = SigLIP.from_variant(
        "Pico/8",
        image_size=SIZE,
        sequence_length=8,
        vocabulary_size=tokenizer.vocabulary_size,
    )
    model.log_temperature.assign(2.0)
    model.bias.assign(-1.5)
    path = str(tmp_path_factory.mktemp("preset") / "pico")
    model.save_to_preset(path, preprocessor=SigLIPPreprocessor(tokenizer, image_size=SIZE))
    return path


@pytest.fixture(scope="module")
def embedder(preset):
    return Embedder.from_preset(preset, batch_size=4)


def write_images(folder, rng, count, start=0):
    os.makedirs(folder, exist_ok=True)
    arrays = {}
    for index in range(start, start + count):
        pixels = rng.integers(0, 256, (12 + index, 20, 3), dtype=np.uint8)
        path = os.path.join(folder, f"image_{index:02d}.png")
        Image.fromarray(pixels).save(path)
        arrays[path] = pixels
    return arrays


def unit(rows):
    rows = np.asarray(keras.ops.convert_to_numpy(rows), np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def reference_image_embeddings(model, pixel_arrays):
    resized = np.stack([reference(pixels, SIZE, 0, 255) for pixels in pixel_arrays]).astype(
        "float32"
    )
    return unit(model.image_encoder(resized))


def reference_text_embeddings(model, tokenizer, texts):
    return unit(model.text_encoder(tokenizer(texts)))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.slow
def test_embedder_embeds_raw_images_and_texts(embedder, rng, tmp_path):
    arrays = write_images(tmp_path, rng, 3)
    paths = list(arrays)
    pixels = list(arrays.values())
    images = [paths[0], Image.open(paths[1]), pixels[2]]
    embeddings = embedder.embed_images(images)
    assert embeddings.dtype == np.float32 and embeddings.shape == (3, 64)
    expected = reference_image_embeddings(embedder.model, pixels)
    np.testing.assert_allclose(embeddings, expected, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-6)
    # A folder expands to its images, sorted.
    np.testing.assert_allclose(embedder.embed_images(str(tmp_path)), expected, atol=2e-5)
    np.testing.assert_allclose(embedder.embed_images(paths[2])[0], expected[2], atol=2e-5)

    texts = ["a big cat", "a small dog on the road", "fox"]
    expected_texts = reference_text_embeddings(
        embedder.model, embedder.preprocessor.tokenizer, texts
    )
    np.testing.assert_allclose(embedder.embed_texts(texts), expected_texts, atol=2e-5)
    np.testing.assert_allclose(embed(embedder, texts="fox")[0], expected_texts[2], atol=2e-5)
    np.testing.assert_allclose(embed(embedder, images=paths), expected, atol=2e-5)
    with pytest.raises(ValueError, match="exactly one of them"):
        embed(embedder, images=paths, texts=texts)


def test_any_number_of_images_compiles_each_tower_once(preset, rng, monkeypatch):
    if keras.backend.backend() == "torch":
        pytest.skip("PyTorch runs the towers eagerly: there is nothing to compile.")
    embedder = Embedder.from_preset(preset, batch_size=4)
    calls = []
    original = keras.layers.LayerNormalization.call

    def counting(self, *args, **kwargs):
        calls.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(keras.layers.LayerNormalization, "call", counting)
    # Python code in a layer runs only while a compiled function is traced.
    embedder.embed_images(rng.integers(0, 256, (1, 10, 14, 3), dtype=np.uint8))
    image_traces = len(calls)
    assert image_traces > 0
    for count in (3, 4, 9, 2, 5):
        embedder.embed_images(rng.integers(0, 256, (count, 10 + count, 14, 3), dtype=np.uint8))
    assert len(calls) == image_traces
    embedder.embed_texts(["a cat"])
    text_traces = len(calls)
    assert text_traces > image_traces
    for count in (2, 5, 7):
        embedder.embed_texts(["a dog on the grass"] * count)
    assert len(calls) == text_traces


@pytest.mark.slow
def test_classify_gives_each_label_the_classifier_probability(embedder, preset, rng, tmp_path):
    arrays = write_images(tmp_path / "images", rng, 5)
    labels = ["cat", "dog", "fox"]
    templates = ["a {} on the grass", "a big {}"]
    results = classify(embedder, labels, [str(tmp_path / "images")], templates=templates)
    assert [result["image"] for result in results] == sorted(arrays)

    # NumPy: a label's embedding is the normalised mean of its prompts' embeddings.
    model, tokenizer = embedder.model, embedder.preprocessor.tokenizer
    prompts = [template.format(label) for label in labels for template in templates]
    prompt_embeddings = reference_text_embeddings(model, tokenizer, prompts).reshape(3, 2, -1)
    label_embeddings = unit(prompt_embeddings.mean(axis=1))
    image_embeddings = reference_image_embeddings(model, [arrays[p] for p in sorted(arrays)])
    expected = sigmoid(np.exp(2.0) * image_embeddings @ label_embeddings.T - 1.5)
    actual = np.array([[result["scores"][label] for label in labels] for result in results])
    np.testing.assert_allclose(actual, expected, atol=2e-5)

    # The classifier from a preset, on raw images, gives the same probabilities.
    classifier = ZeroShotClassifier.from_preset(preset, labels, templates=templates, batch_size=4)
    np.testing.assert_allclose(classifier.predict_proba(sorted(arrays)), expected, atol=2e-5)
    single = classifier.predict_proba(Image.open(sorted(arrays)[1]))
    np.testing.assert_allclose(single[0], expected[1], atol=2e-5)
    positions = classify(embedder, labels, [arrays[p] for p in sorted(arrays)[:2]], templates)
    assert [result["image"] for result in positions] == [0, 1]


def test_tokenizer_from_preset(preset):
    tokenizer = SigLIPTokenizer.from_preset(preset)
    expected = SigLIPTokenizer(train_sentencepiece(CORPUS, 22), sequence_length=8)
    np.testing.assert_array_equal(tokenizer(CORPUS[:3]), expected(CORPUS[:3]))


@pytest.mark.slow
def test_search_ranks_the_folder_and_keeps_its_index_fresh(embedder, rng, tmp_path):
    folder = tmp_path / "photos"
    arrays = write_images(folder, rng, 4)
    os.makedirs(folder / ".hidden")
    Image.new("RGB", (8, 8)).save(folder / ".hidden" / "skipped.png")
    (folder / "notes.txt").write_text("not an image")
    model, tokenizer = embedder.model, embedder.preprocessor.tokenizer

    def expected_ranking(arrays, query):
        paths = sorted(arrays)
        images = reference_image_embeddings(model, [arrays[p] for p in paths])
        text = reference_text_embeddings(model, tokenizer, [query])[0]
        scores = sigmoid(np.exp(2.0) * images @ text - 1.5)
        order = np.argsort(-scores, kind="stable")
        return [paths[i] for i in order], scores[order]

    progress = []
    results = search(
        embedder, folder, "a small fox", top_k=3, progress=lambda *a: progress.append(a)
    )
    paths, scores = expected_ranking(arrays, "a small fox")
    assert [result["image"] for result in results] == paths[:3]
    np.testing.assert_allclose([result["score"] for result in results], scores[:3], atol=2e-5)
    assert progress[-1] == (4, 4)
    index_file = str(folder) + ".keras-siglip-index.npz"
    with np.load(index_file, allow_pickle=False) as cache:
        assert sorted(cache["paths"].tolist()) == [os.path.basename(p) for p in sorted(arrays)]

    # Nothing changed: nothing is embedded again.
    index = ImageIndex(folder, embedder)
    assert index.refresh() == {"added": 0, "changed": 0, "removed": 0, "unchanged": 4}

    # One added, one changed (new pixels, new size), one removed.
    arrays.update(write_images(folder, rng, 1, start=10))
    changed = sorted(arrays)[1]
    arrays[changed] = rng.integers(0, 256, (30, 9, 3), dtype=np.uint8)
    Image.fromarray(arrays[changed]).save(changed)
    removed = min(arrays)
    os.remove(removed)
    del arrays[removed]
    progress.clear()
    index = ImageIndex(folder, embedder)
    counts = index.refresh(progress=lambda *a: progress.append(a))
    assert counts == {"added": 1, "changed": 1, "removed": 1, "unchanged": 2}
    assert progress[-1] == (2, 2)
    paths, scores = expected_ranking(arrays, "a big dog")
    results = index.search("a big dog", top_k=10)
    assert [result["image"] for result in results] == paths
    np.testing.assert_allclose([result["score"] for result in results], scores, atol=2e-5)

    # An index at another path, and one made by another model, are rebuilt.
    elsewhere = tmp_path / "elsewhere.npz"
    other = ImageIndex(folder, embedder, index_path=elsewhere)
    assert other.refresh()["added"] == 4 and elsewhere.is_file()
    embedder.model.image_encoder.weights[0].assign(embedder.model.image_encoder.weights[0] * 0.5)
    try:
        assert ImageIndex(folder, embedder).refresh()["added"] == 4
    finally:
        embedder.model.image_encoder.weights[0].assign(
            embedder.model.image_encoder.weights[0] * 2.0
        )


def test_expand_images_lists_folders_sorted(tmp_path, rng):
    write_images(tmp_path / "b", rng, 2)
    write_images(tmp_path / "a", rng, 1)
    expanded = expand_images([str(tmp_path), str(tmp_path / "a" / "image_00.png")])
    names = [os.path.relpath(p, tmp_path) for p in expanded]
    assert names == [
        "a/image_00.png",
        "b/image_00.png",
        "b/image_01.png",
        "a/image_00.png",
    ]
