"""Callbacks that evaluate a `SigLIP` on held-out data at the end of training epochs.

They write into the epoch's `logs`, so `History`, the progress bar and any callback
listed after them (`EarlyStopping`, `ModelCheckpoint`) see the results. On the
epochs they skip (`every_n_epochs`), their keys are absent, as Keras' own
`validation_freq` leaves out `val_` keys: the `History` lists then have fewer
entries than epochs.
"""

import keras
import numpy as np

from keras_siglip.evaluation.embedding import embed_in_batches
from keras_siglip.evaluation.retrieval import check_k, retrieval_metrics
from keras_siglip.evaluation.zero_shot import (
    DEFAULT_TEMPLATES,
    ZeroShotClassifier,
    check_class_names,
    check_ks,
    check_labels,
    check_templates,
    check_tokenizer,
)
from keras_siglip.validation import check_positive_int


class _EpochEndEvaluation(keras.callbacks.Callback):
    def __init__(self, every_n_epochs, batch_size, prefix):
        super().__init__()
        check_positive_int("every_n_epochs", every_n_epochs)
        check_positive_int("batch_size", batch_size)
        if not isinstance(prefix, str):
            raise ValueError(f"`prefix` must be a string; got {prefix!r}.")
        self.every_n_epochs = every_n_epochs
        self.batch_size = batch_size
        self.prefix = prefix

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or (epoch + 1) % self.every_n_epochs:
            return
        for key, value in self.evaluate().items():
            logs[self.prefix + key] = value

    def evaluate(self):
        raise NotImplementedError


class RetrievalEvaluation(_EpochEndEvaluation):
    """Image-to-text and text-to-image recall@k on held-out pairs, each epoch.

    Embeds every image and text with `model.encode_images` and
    `model.encode_texts` and logs `retrieval_metrics`: `{prefix}i2t_recall@k` and
    `{prefix}t2i_recall@k` for each `k`, and `{prefix}retrieval_candidates`, the
    number of candidates each query ranks (chance@k is `k` over it). Unlike the
    in-batch `RetrievalRecall` metric, every query ranks the whole held-out set.

    Args:
        images: `(num_pairs, size, size, 3)` model-ready float images.
        token_ids: `(num_pairs, sequence_length)` token ids; text `i` describes
            image `i`.
        ks: positive integers.
        every_n_epochs: evaluate after every this many epochs.
        batch_size: images or texts per call of the model.
        prefix: prepended to every key written into the logs.

    Example:

    >>> import numpy as np
    >>> from keras_siglip import SigLIP
    >>> model = SigLIP.from_variant("Pico/8", image_size=32, sequence_length=8,
    ...                             vocabulary_size=50)
    >>> model.compile()
    >>> data = {"images": np.zeros((4, 32, 32, 3), "float32"),
    ...         "token_ids": np.arange(32).reshape(4, 8) % 50}
    >>> callback = RetrievalEvaluation(data["images"], data["token_ids"], ks=(1,))
    >>> history = model.fit(data, epochs=1, callbacks=[callback], verbose=0)
    >>> sorted(key for key in history.history if key.startswith("val_"))
    ['val_i2t_recall@1', 'val_retrieval_candidates', 'val_t2i_recall@1']
    """

    def __init__(
        self, images, token_ids, ks=(1, 5), every_n_epochs=1, batch_size=256, prefix="val_"
    ):
        super().__init__(every_n_epochs, batch_size, prefix)
        images, token_ids = np.asarray(images), np.asarray(token_ids)
        if len(images) != len(token_ids) or not len(images):
            raise ValueError(
                "`images` and `token_ids` must pair up one to one and hold at least one "
                f"pair; got {len(images)} images and {len(token_ids)} token id rows."
            )
        if not isinstance(ks, (list, tuple)) or not ks:
            raise ValueError(f"`ks` must be a list of positive integers; got {ks!r}.")
        for k in ks:
            check_k(k)
        self.images = images
        self.token_ids = token_ids
        self.ks = tuple(int(k) for k in ks)

    def evaluate(self):
        """`retrieval_metrics` of the model's current embeddings of the held-out pairs."""
        image_embeddings = embed_in_batches(self.model.encode_images, self.images, self.batch_size)
        text_embeddings = embed_in_batches(self.model.encode_texts, self.token_ids, self.batch_size)
        return retrieval_metrics(image_embeddings, text_embeddings, self.ks)


class ZeroShotEvaluation(_EpochEndEvaluation):
    """Zero-shot top-k accuracy on held-out labelled images, each epoch.

    Builds a `ZeroShotClassifier` from the model's current text tower (the class
    embeddings change as it trains) and logs `{prefix}zero_shot_topK` for each
    `k` in `ks`.

    Args:
        images: model-ready float images.
        labels: `(num_images,)` integer class indices.
        class_names: one distinct name per class.
        tokenizer: callable mapping a list of strings to `(num_strings,
            sequence_length)` token ids; see `ZeroShotClassifier`.
        templates: prompts containing `{}`.
        ks: positive integers, each at most the number of classes.
        every_n_epochs: evaluate after every this many epochs.
        batch_size: images or prompts per call of the model.
        prefix: prepended to every key written into the logs.

    Example:

    >>> import numpy as np
    >>> from keras_siglip import SigLIP
    >>> model = SigLIP.from_variant("Pico/8", image_size=32, sequence_length=8,
    ...                             vocabulary_size=50)
    >>> def tokenizer(texts):  # a stand-in: one id per character
    ...     return np.array([[ord(c) % 50 for c in text[:8].ljust(8)] for text in texts])
    >>> images = np.zeros((4, 32, 32, 3), "float32")
    >>> callback = ZeroShotEvaluation(images, [0, 1, 1, 0], ["cat", "dog"], tokenizer)
    >>> callback.set_model(model)  # what `fit(callbacks=[callback])` does
    >>> logs = {"loss": 0.5}
    >>> callback.on_epoch_end(0, logs)
    >>> sorted(logs)
    ['loss', 'val_zero_shot_top1']
    """

    def __init__(
        self,
        images,
        labels,
        class_names,
        tokenizer,
        templates=DEFAULT_TEMPLATES,
        ks=(1,),
        every_n_epochs=1,
        batch_size=256,
        prefix="val_",
    ):
        super().__init__(every_n_epochs, batch_size, prefix)
        self.images = np.asarray(images)
        if not len(self.images):
            raise ValueError("`images` must hold at least one image; got none.")
        self.class_names = check_class_names(class_names)
        self.labels = check_labels(labels, len(self.images), len(self.class_names))
        check_tokenizer(tokenizer)
        self.tokenizer = tokenizer
        self.templates = check_templates(templates)
        self.ks = check_ks(ks, len(self.class_names))

    def evaluate(self):
        """Top-k accuracy of a classifier built from the model as it is now."""
        classifier = ZeroShotClassifier(
            self.model,
            self.class_names,
            self.templates,
            tokenizer=self.tokenizer,
            batch_size=self.batch_size,
        )
        accuracy = classifier.evaluate(self.images, self.labels, k=self.ks)
        return {f"zero_shot_top{k}": accuracy[f"top{k}"] for k in self.ks}
