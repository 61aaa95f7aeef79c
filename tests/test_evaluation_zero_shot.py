"""Zero-shot classification against hand-computed prompt ensembles, and on a real SigLIP."""

import math

import keras
import numpy as np
import pytest
from test_evaluation import IMAGE_SIZE, LENGTH, VOCABULARY, unit

from keras_siglip import SigLIP
from keras_siglip.evaluation import DEFAULT_TEMPLATES, ZeroShotClassifier


class FakeModel:
    """Known embeddings: a prompt's is looked up by its token id, an image is its own.

    `encode_texts` normalises like `SigLIP.encode_texts`; images are given as
    `(num_images, dim)` vectors and `encode_images` normalises them.
    """

    sequence_length = 3

    def __init__(self, prompt_vectors, log_temperature, bias):
        self.prompts = list(prompt_vectors)
        self.table = unit(np.array(list(prompt_vectors.values()), "float64"))
        self.log_temperature = log_temperature
        self.bias = bias

    def tokenize(self, texts):
        ids = [self.prompts.index(text) for text in texts]
        return np.array([[i, 0, 0] for i in ids], "int32")

    def encode_texts(self, token_ids):
        return self.table[token_ids[:, 0]]

    def encode_images(self, images):
        return unit(np.asarray(images, "float64"))


PROMPTS = {
    "a cat": [1.0, 0.0, 0.0],
    "the cat": [0.0, 1.0, 0.0],
    "a dog": [0.0, 0.0, 1.0],
    "the dog": [0.0, 0.6, 0.8],
}
IMAGES = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0], [0, 0, -1.0]], "float32")


def fake_classifier(**kwargs):
    model = FakeModel(PROMPTS, math.log(2.0), -1.0)
    return ZeroShotClassifier(
        model, ["cat", "dog"], ["a {}", "the {}"], tokenizer=model.tokenize, **kwargs
    )


def test_class_embeddings_average_the_prompts_by_hand():
    classifier = fake_classifier()
    # cat: mean([1, 0, 0], [0, 1, 0]) = [.5, .5, 0]; dog: mean([0, 0, 1], [0, .6, .8])
    # = [0, .3, .9], of norm sqrt(.9).
    expected = [
        [1 / math.sqrt(2), 1 / math.sqrt(2), 0.0],
        [0.0, 0.3 / math.sqrt(0.9), 0.9 / math.sqrt(0.9)],
    ]
    np.testing.assert_allclose(classifier.class_embeddings, expected, rtol=1e-6)
    assert classifier.num_classes == 2 and classifier.class_names == ("cat", "dog")


def test_logits_probabilities_predictions_by_hand():
    classifier = fake_classifier(batch_size=3)  # two image batches: 3 and 1
    cat, dog = 1 / math.sqrt(2), 0.9 / math.sqrt(0.9)
    cosines = np.array([[cat, 0.0], [0.0, dog], [cat, 0.3 / math.sqrt(0.9)], [0.0, -dog]])
    expected = 2.0 * cosines - 1.0  # exp(log 2) * cos - 1
    logits = classifier.logits(IMAGES)
    assert logits.dtype == np.float32 and logits.shape == (4, 2)
    np.testing.assert_allclose(logits, expected, rtol=1e-6, atol=1e-6)
    probabilities = classifier.predict_proba(IMAGES)
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-expected)), rtol=1e-6)
    # Per-class sigmoids: the rows do not sum to one.
    assert not np.allclose(probabilities.sum(axis=1), 1.0)
    assert classifier.predict(IMAGES).tolist() == [0, 1, 0, 0]
    assert classifier.top_k(IMAGES, 2).tolist() == [[0, 1], [1, 0], [0, 1], [0, 1]]
    metrics = classifier.evaluate(IMAGES, [0, 1, 1, 1], k=(1, 2))
    assert metrics == {"top1": 0.5, "top2": 1.0, "chance": 0.5}
    assert classifier.evaluate(IMAGES, np.array([0, 1, 0, 0]), k=1)["top1"] == 1.0


def test_against_numpy_with_random_embeddings(rng):
    names, templates = ["a", "b", "c", "d", "e"], ["x {}", "y {}", "{} z"]
    prompts = {t.replace("{}", n): rng.normal(size=6) for n in names for t in templates}
    model = FakeModel(prompts, 0.7, -2.5)
    classifier = ZeroShotClassifier(model, names, templates, tokenizer=model.tokenize, batch_size=4)
    text = unit(np.array(list(prompts.values()))).reshape(5, 3, 6).mean(axis=1)
    class_embeddings = unit(text)
    images = rng.normal(size=(9, 6)).astype("float32")
    expected = math.exp(0.7) * unit(images.astype("float64")) @ class_embeddings.T - 2.5
    np.testing.assert_allclose(classifier.logits(images), expected, rtol=1e-5, atol=1e-5)
    order = np.argsort(-expected, axis=1)
    np.testing.assert_array_equal(classifier.top_k(images, 3), order[:, :3])
    labels = rng.integers(0, 5, size=9)
    rank = np.argmax(order == labels[:, None], axis=1)
    metrics = classifier.evaluate(images, labels, k=(1, 3, 5))
    assert metrics["top1"] == pytest.approx(np.mean(rank < 1))
    assert metrics["top3"] == pytest.approx(np.mean(rank < 3))
    assert metrics["top5"] == 1.0 and metrics["chance"] == pytest.approx(0.2)


def test_image_encoder_replaces_encode_images(rng):
    names, templates = ["a", "b", "c"], ["x {}", "{} y"]
    prompts = {t.replace("{}", n): rng.normal(size=4) for n in names for t in templates}
    model = FakeModel(prompts, 0.3, -1.0)
    rotation = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    classifier = ZeroShotClassifier(
        model,
        names,
        templates,
        tokenizer=model.tokenize,
        image_encoder=lambda x: unit(x @ rotation),
    )
    class_embeddings = unit(unit(np.array(list(prompts.values()))).reshape(3, 2, 4).mean(axis=1))
    images = rng.normal(size=(5, 4))
    expected = math.exp(0.3) * unit(images @ rotation) @ class_embeddings.T - 1.0
    np.testing.assert_allclose(classifier.logits(images), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(
        ValueError,
        match="`image_encoder` must be a function of model-ready images or None; got int",
    ):
        ZeroShotClassifier(model, names, templates, tokenizer=model.tokenize, image_encoder=3)


def test_ties_count_against_the_true_class():
    # Both classes get the same prompts' embedding: every image ties.
    model = FakeModel({"a cat": [1.0, 0, 0], "a dog": [1.0, 0, 0]}, 0.0, 0.0)
    classifier = ZeroShotClassifier(model, ["cat", "dog"], ["a {}"], tokenizer=model.tokenize)
    assert classifier.evaluate(IMAGES, [0, 1, 0, 1]) == {"top1": 0.0, "chance": 0.5}
    assert classifier.predict(IMAGES).tolist() == [0, 0, 0, 0]


def test_tokenizer_may_return_a_dict_or_a_tensor():
    import tensorflow as tf

    model = FakeModel(PROMPTS, 0.0, 0.0)
    expected = fake_classifier().class_embeddings
    for tokenizer in (
        lambda texts: {"token_ids": model.tokenize(texts), "padding_mask": None},
        lambda texts: keras.ops.convert_to_tensor(model.tokenize(texts)),
        # A tf.text tokenizer's output, whatever the Keras backend.
        lambda texts: tf.constant(model.tokenize(texts)),
    ):
        classifier = ZeroShotClassifier(
            model, ["cat", "dog"], ["a {}", "the {}"], tokenizer=tokenizer
        )
        np.testing.assert_allclose(classifier.class_embeddings, expected)


def test_real_siglip_smoke(rng):
    model = SigLIP.from_variant(
        "Pico/8", image_size=IMAGE_SIZE, sequence_length=LENGTH, vocabulary_size=VOCABULARY
    )
    seen = []

    def tokenizer(texts):
        seen.extend(texts)
        return np.array([[ord(c) % VOCABULARY for c in t[:LENGTH].ljust(LENGTH)] for t in texts])

    names = ["cat", "dog", "red car"]
    # Batches the size of the whole set: JAX runs each new shape's ops eagerly slowly.
    classifier = ZeroShotClassifier(model, names, tokenizer=tokenizer)
    prompts = [t.replace("{}", n) for n in names for t in DEFAULT_TEMPLATES]
    assert seen == prompts
    prompt_embeddings = keras.ops.convert_to_numpy(model.encode_texts(tokenizer(prompts)))
    class_embeddings = unit(prompt_embeddings.reshape(3, len(DEFAULT_TEMPLATES), -1).mean(axis=1))
    np.testing.assert_allclose(classifier.class_embeddings, class_embeddings, rtol=1e-4, atol=1e-5)
    images = rng.uniform(-1, 1, size=(5, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    image_embeddings = keras.ops.convert_to_numpy(model.encode_images(images))
    expected = 10.0 * image_embeddings @ class_embeddings.T - 10.0
    logits = classifier.logits(images, batch_size=5)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    probabilities = classifier.predict_proba(images, batch_size=5)
    assert probabilities.shape == (5, 3) and ((probabilities > 0) & (probabilities < 1)).all()
    metrics = classifier.evaluate(images, [0, 1, 2, 0, 1], k=(1, 3), batch_size=5)
    assert metrics["top3"] == 1.0 and 0.0 <= metrics["top1"] <= 1.0
    assert metrics["chance"] == pytest.approx(1 / 3)


def ragged(rows):
    import tensorflow as tf

    return tf.ragged.constant(rows)


def wrong_length(texts):
    return np.zeros((len(texts), 5), "int32")


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"class_names": []}, "`class_names` must name at least one class; got an empty list"),
        ({"class_names": "cat"}, "`class_names` must be a list of strings, one per class; got str"),
        ({"class_names": ["cat", "dog", "cat"]}, r"`class_names` must be distinct.*\['cat'\]"),
        ({"class_names": ["cat", ""]}, r"non-empty strings; got \[''\]"),
        ({"templates": ["a photo of"]}, r"containing '\{\}'.*got \['a photo of'\]"),
        ({"templates": []}, "`templates` must hold at least one prompt"),
        ({"tokenizer": None}, "`tokenizer` must be a callable.*got NoneType"),
        (
            {"tokenizer": wrong_length},
            r"shape \(num_texts, sequence_length\) = \(4, 3\) for this model; got shape "
            r"\(4, 5\). Pad or truncate",
        ),
        ({"tokenizer": lambda texts: np.zeros((1, 3), "int32")}, r"= \(4, 3\).*got shape \(1, 3\)"),
        (
            {"tokenizer": lambda texts: np.zeros((len(texts), 3))},
            "integer token ids; got dtype float64",
        ),
        ({"tokenizer": lambda texts: {"ids": None}}, r"under 'token_ids'; got keys \['ids'\]"),
        (
            {"tokenizer": lambda texts: [[1, 2, 3]] * 3 + [[1]]},
            "must return a rectangular array of token ids",
        ),
        (
            {"tokenizer": lambda texts: ragged([[1, 2, 3]] * 3 + [[1]])},
            r"ragged token ids .*pad every text to the model's `sequence_length` \(3\)",
        ),
        ({"batch_size": 0}, "`batch_size` must be a positive integer, got 0"),
    ],
)
def test_construction_errors_are_explained(arguments, message):
    model = FakeModel(PROMPTS, 0.0, 0.0)
    arguments = {
        "class_names": ["cat", "dog"],
        "templates": ["a {}", "the {}"],
        "tokenizer": model.tokenize,
        **arguments,
    }
    with pytest.raises(ValueError, match=message):
        ZeroShotClassifier(model, **arguments)


def test_prediction_errors_are_explained():
    classifier = fake_classifier()
    out_of_range = r"`labels` must lie in \[0, 2\) for 2 classes; got \[-1, 2\]"
    with pytest.raises(ValueError, match=out_of_range):
        classifier.evaluate(IMAGES, [0, 2, -1, 1])
    wrong_shape = r"one class index per image, shape \(4,\); got shape \(3,\)"
    with pytest.raises(ValueError, match=wrong_shape):
        classifier.evaluate(IMAGES, [0, 1, 1])
    with pytest.raises(ValueError, match="integer class indices; got dtype float64"):
        classifier.evaluate(IMAGES, [0.0, 1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match=r"at most the number of classes \(2\); got 5"):
        classifier.evaluate(IMAGES, [0, 1, 1, 0], k=(1, 5))
    with pytest.raises(ValueError, match=r"at most the number of classes \(2\); got 3"):
        classifier.top_k(IMAGES, 3)
    with pytest.raises(ValueError, match="`k` must be positive integers; got 0"):
        classifier.evaluate(IMAGES, [0, 1, 1, 0], k=0)
    with pytest.raises(ValueError, match="`images` must hold at least one image"):
        classifier.logits(IMAGES[:0])
