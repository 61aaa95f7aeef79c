"""Zero-shot classification: images scored against prompts built from class names."""

import collections

import numpy as np
from keras import ops

from keras_siglip.evaluation.embedding import compiled_encoder, embed_in_batches
from keras_siglip.evaluation.retrieval import positive_ranks
from keras_siglip.model import SigLIP
from keras_siglip.preprocessing import SigLIPPreprocessor, load_images
from keras_siglip.validation import check_positive_int

# The default prompt of the transformers zero-shot pipeline that SigLIP's
# documentation uses ("this is a photo of {}.") and some of CLIP's ImageNet
# prompts: averaging several wordings makes the accuracy depend less on any one of
# them (CLIP, section 3.1.4).
DEFAULT_TEMPLATES = (
    "a photo of {}.",
    "this is a photo of {}.",
    "a photo of the {}.",
    "a bad photo of the {}.",
    "a photo of the large {}.",
    "a photo of the small {}.",
    "art of the {}.",
)


class ZeroShotClassifier:
    """Classify images by the similarity of their embeddings to class prompts.

    At construction every prompt (each template with `{}` replaced by a class
    name) is tokenized and embedded once; a class's embedding is the mean of its
    prompts' L2-normalised embeddings, normalised again (CLIP's prompt
    ensembling). An image's logit for a class is
    `exp(log_temperature) * cos(image, class) + bias`, as `SigLIP.call` scores an
    image-text pair.

    The classifier is a snapshot: the class embeddings, temperature and bias are
    read at construction, so build a new one after training the model further
    (the `ZeroShotEvaluation` callback does, each time it runs).

    Args:
        model: a `SigLIP`, or any object with `encode_images`, `encode_texts`,
            `log_temperature`, `bias` and `sequence_length`.
        class_names: list of distinct, non-empty class names; class `i` is
            `class_names[i]`.
        templates: prompts that each contain `{}`, where the class name goes.
        tokenizer: callable mapping a list of strings to `(num_strings,
            model.sequence_length)` integer token ids (an array, or a dict with a
            `"token_ids"` entry), such as the model's preprocessor.
        batch_size: texts and images encoded per call of the model.
        image_encoder: function from model-ready images to embeddings;
            `model.encode_images` by default. `augmented_image_encoder(...)` gives
            one that averages augmented views of each image.
        fixed_batch_size: give the image encoder batches of exactly `batch_size`
            (the last one padded), so that a compiled encoder compiles once
            whatever the number of images (`from_preset` does).

    Images, wherever a method takes them, are model-ready float32 batches
    `(N, image_size, image_size, 3)` in `[-1, 1]`, or anything
    `keras_siglip.preprocessing.load_images` takes: file paths, PIL images,
    uint8 arrays, one or a list, of any size (squash-resized to the model's size).

    Example:

    >>> import numpy as np
    >>> from keras_siglip import SigLIP
    >>> model = SigLIP.from_variant("Pico/8", image_size=32, sequence_length=8,
    ...                             vocabulary_size=50)
    >>> def tokenizer(texts):  # a stand-in: one id per character
    ...     return np.array([[ord(c) % 50 for c in text[:8].ljust(8)] for text in texts])
    >>> classifier = ZeroShotClassifier(model, ["cat", "dog", "car"],
    ...                                 tokenizer=tokenizer)
    >>> classifier.class_embeddings.shape
    (3, 64)
    >>> images = np.zeros((2, 32, 32, 3), "float32")
    >>> classifier.logits(images).shape
    (2, 3)
    >>> sorted(classifier.evaluate(images, [0, 2], k=(1, 2)))
    ['chance', 'top1', 'top2']
    """

    def __init__(
        self,
        model,
        class_names,
        templates=DEFAULT_TEMPLATES,
        *,
        tokenizer,
        batch_size=256,
        image_encoder=None,
        fixed_batch_size=False,
    ):
        if image_encoder is not None and not callable(image_encoder):
            raise ValueError(
                "`image_encoder` must be a function of model-ready images or None; "
                f"got {type(image_encoder).__name__}."
            )
        self.image_encoder = image_encoder or model.encode_images
        self.class_names = check_class_names(class_names)
        self.templates = check_templates(templates)
        check_tokenizer(tokenizer)
        check_positive_int("batch_size", batch_size)
        self.model = model
        self.batch_size = batch_size
        self.fixed_batch_size = bool(fixed_batch_size)
        prompts = [
            template.replace("{}", name) for name in self.class_names for template in self.templates
        ]
        token_ids = tokenize(tokenizer, prompts, model.sequence_length)
        prompt_embeddings = embed_in_batches(model.encode_texts, token_ids, batch_size)
        prompt_embeddings = prompt_embeddings.reshape(
            len(self.class_names), len(self.templates), -1
        )
        self.class_embeddings = _unit_rows(np.mean(prompt_embeddings, axis=1))
        self.temperature = float(np.exp(_scalar(model.log_temperature)))
        self.bias = _scalar(model.bias)

    @classmethod
    def from_preset(cls, preset, class_names, templates=DEFAULT_TEMPLATES, batch_size=16):
        """A classifier for `class_names` with a preset's model and tokenizer.

        The towers run compiled, on batches padded to `batch_size`.

        Args:
            preset: anything `SigLIP.from_preset` and
                `SigLIPPreprocessor.from_preset` take.
            class_names: the classes, as in the constructor.
            templates: prompts containing `{}`.
            batch_size: images (and prompts) per call of a tower.
        """
        model = SigLIP.from_preset(preset)
        tokenizer = SigLIPPreprocessor.from_preset(preset).tokenizer
        return cls(
            model,
            class_names,
            templates,
            tokenizer=tokenizer,
            batch_size=batch_size,
            image_encoder=compiled_encoder(model.image_encoder),
            fixed_batch_size=True,
        )

    @property
    def num_classes(self):
        return len(self.class_names)

    def logits(self, images, batch_size=None):
        """`(num_images, num_classes)` float32 logits of the images."""
        images = self._model_ready(images)
        image_embeddings = embed_in_batches(
            self.image_encoder,
            images,
            batch_size or self.batch_size,
            fixed_batch_size=self.fixed_batch_size,
        )
        similarity = image_embeddings @ self.class_embeddings.T
        return (self.temperature * similarity + self.bias).astype("float32")

    def _model_ready(self, images):
        # A stand-in model without `image_size` takes its own inputs as they are.
        size = getattr(self.model, "image_size", None)
        if (
            hasattr(images, "shape")
            and hasattr(images, "dtype")
            and (
                size is None
                or (tuple(images.shape[1:]) == (size, size, 3) and "float" in str(images.dtype))
            )
        ):
            if len(images) == 0:
                raise ValueError("`images` must hold at least one image; got none.")
            return images
        if isinstance(images, (list, tuple)) and not images:
            raise ValueError("`images` must hold at least one image; got none.")
        return load_images(images, size)

    def predict_proba(self, images, batch_size=None):
        """Sigmoid of the logits: each class's probability on its own.

        SigLIP scores every image-class pair independently, so these do not sum to
        one over the classes (several classes, or none, can be likely).
        """
        # The tanh form of the sigmoid never overflows.
        return 0.5 + 0.5 * np.tanh(0.5 * self.logits(images, batch_size))

    def predict(self, images, batch_size=None):
        """`(num_images,)` index of the highest-scoring class (the first, on ties)."""
        return np.argmax(self.logits(images, batch_size), axis=1)

    def top_k(self, images, k=5, batch_size=None):
        """`(num_images, k)` class indices, best first (lower index first on ties)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ValueError(f"`k` must be a positive integer; got {k!r}.")
        check_ks(k, self.num_classes)
        logits = self.logits(images, batch_size)
        return np.argsort(-logits, axis=1, kind="stable")[:, :k]

    def evaluate(self, images, labels, k=(1,), batch_size=None):
        """Top-k accuracy of the predictions for `labels`.

        A true class tied with another counts as ranked below it, as in
        `recall_at_k`, so a model that scores every class alike gets 0.

        Args:
            images: model-ready images.
            labels: `(num_images,)` integer class indices.
            k: a positive integer or a sequence of them, each at most
                `num_classes`.
            batch_size: images per call of the model; the classifier's by default.

        Returns:
            A dict with `topK` for each `k` and `chance` (`1 / num_classes`, the
            top-1 accuracy of guessing).
        """
        ks = check_ks(k, self.num_classes)
        images = self._model_ready(images)
        labels = check_labels(labels, len(images), self.num_classes)
        ranks = positive_ranks(self.logits(images, batch_size), labels)
        metrics = {f"top{k}": float(np.mean(ranks < k)) for k in ks}
        metrics["chance"] = 1.0 / self.num_classes
        return metrics


def tokenize(tokenizer, texts, sequence_length):
    """`tokenizer(texts)` as a NumPy int array, checked to fit the text tower."""
    token_ids = tokenizer(list(texts))
    if isinstance(token_ids, dict):
        if "token_ids" not in token_ids:
            raise ValueError(
                "A `tokenizer` that returns a dict must put the ids under "
                f"'token_ids'; got keys {sorted(token_ids)}."
            )
        token_ids = token_ids["token_ids"]
    if hasattr(token_ids, "row_splits"):  # a tf.RaggedTensor
        raise ValueError(
            "`tokenizer` returned ragged token ids (texts of different lengths); pad "
            f"every text to the model's `sequence_length` ({sequence_length})."
        )
    try:
        token_ids = np.asarray(ops.convert_to_numpy(token_ids))
    except (TypeError, ValueError) as error:
        raise ValueError(
            "`tokenizer` must return a rectangular array of token ids (pad every "
            f"text to {sequence_length}); got {type(token_ids).__name__}: {error}"
        ) from error
    expected = (len(texts), sequence_length)
    if token_ids.shape != expected:
        raise ValueError(
            f"`tokenizer` must return token ids of shape (num_texts, sequence_length) "
            f"= {expected} for this model; got shape {token_ids.shape}. Pad or truncate "
            f"every text to the model's `sequence_length` ({sequence_length})."
        )
    if not np.issubdtype(token_ids.dtype, np.integer):
        raise ValueError(f"`tokenizer` must return integer token ids; got dtype {token_ids.dtype}.")
    return token_ids.astype("int32")


def check_tokenizer(tokenizer):
    if not callable(tokenizer):
        raise ValueError(
            "`tokenizer` must be a callable mapping a list of strings to token ids; "
            f"got {type(tokenizer).__name__}."
        )


def check_class_names(class_names):
    """`class_names` as a tuple of distinct, non-empty strings; anything else raises."""
    if isinstance(class_names, str) or not _is_sequence(class_names):
        raise ValueError(
            "`class_names` must be a list of strings, one per class; got "
            f"{type(class_names).__name__}."
        )
    class_names = tuple(class_names)
    if not class_names:
        raise ValueError("`class_names` must name at least one class; got an empty list.")
    bad = [name for name in class_names if not isinstance(name, str) or not name]
    if bad:
        raise ValueError(f"`class_names` must be non-empty strings; got {bad!r}.")
    counts = collections.Counter(class_names)
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    if duplicates:
        raise ValueError(
            "`class_names` must be distinct (a repeated name makes two identical "
            f"classes); got duplicates {duplicates!r}."
        )
    return class_names


def check_templates(templates):
    """`templates` as a tuple of strings that each contain `{}`; anything else raises."""
    if isinstance(templates, str) or not _is_sequence(templates):
        raise ValueError(
            "`templates` must be a list of prompts such as ['a photo of {}.']; got "
            f"{type(templates).__name__}."
        )
    templates = tuple(templates)
    if not templates:
        raise ValueError("`templates` must hold at least one prompt; got an empty list.")
    bad = [
        template for template in templates if not isinstance(template, str) or "{}" not in template
    ]
    if bad:
        raise ValueError(
            "Every template must be a string containing '{}' where the class name "
            f"goes, such as 'a photo of {{}}.'; got {bad!r}."
        )
    return templates


def check_labels(labels, num_images, num_classes):
    """`labels` as an int array of one class index per image; anything else raises."""
    labels = np.asarray(labels)
    if labels.shape != (num_images,):
        raise ValueError(
            f"`labels` must hold one class index per image, shape ({num_images},); got "
            f"shape {labels.shape}."
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`labels` must be integer class indices; got dtype {labels.dtype}.")
    labels = labels.astype("int64")
    out_of_range = labels[(labels < 0) | (labels >= num_classes)]
    if out_of_range.size:
        raise ValueError(
            f"`labels` must lie in [0, {num_classes}) for {num_classes} classes; got "
            f"{sorted(set(out_of_range.tolist()))}."
        )
    return labels


def check_ks(k, num_classes):
    """`k` (an int or a sequence of them, each in [1, num_classes]) as a tuple."""
    ks = (k,) if isinstance(k, (int, np.integer)) else k
    if not _is_sequence(ks) or not ks:
        raise ValueError(f"`k` must be a positive integer or a list of them; got {k!r}.")
    for value in ks:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`k` must be positive integers; got {k!r}.")
        if value > num_classes:
            raise ValueError(
                f"`k` must be at most the number of classes ({num_classes}); got {value}."
            )
    return tuple(int(value) for value in ks)


def _is_sequence(value):
    return isinstance(value, (list, tuple))


def _scalar(value):
    return float(ops.convert_to_numpy(value))


def _unit_rows(matrix):
    norm = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norm, 1e-12)
