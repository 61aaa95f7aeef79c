"""Endless augmented training batches of the embedded dataset (emoji and digits).

What `keras-siglip train` feeds `fit` when it trains on the embedded dataset, and what
guides 02 and 03 train on.
"""

import numpy as np

from keras_siglip.data.emoji import DIGIT_NAMES, augment
from keras_siglip.preprocessing import preprocess_images

__all__ = ["TrainingStream", "tokenized_choices"]


class TrainingStream:
    """Endless augmented batches of the training emoji and digits.

    Each batch holds distinct emoji and `digits_per_class` images of each digit
    class: emoji pairs never share a meaning (the loss takes every off-diagonal pair
    as a negative); the few same-class digit pairs are false negatives, a price
    worth paying for the digits' share of the batch (in runs on this dataset, two
    per class classified held-out digits better than one). Captions are drawn from
    each item's names; images are randomly rotated, scaled and shifted, which keeps
    the small model from memorising the artwork. Every caption is tokenised once, up
    front.

    Args:
        data: the embedded dataset, an `EmojiDataset` from `load_emoji`.
        preprocessor: a `SigLIPPreprocessor`; its image size and tokenizer shape
            the batches.
        batch_size: pairs per batch (the CLI's `--batch-size`); more than the
            `10 * digits_per_class` digit images, and at most those plus the
            training emoji.
        seed: seeds the draws: the same seed gives the same batches.
        digits_per_class: images of each digit class in every batch.

    Example:

    >>> from keras_siglip import SigLIPPreprocessor, SigLIPTokenizer
    >>> from keras_siglip.data import load_emoji
    >>> from keras_siglip.preprocessing import train_sentencepiece
    >>> data = load_emoji(render_size=16, num_held_out=20)
    >>> vocabulary = train_sentencepiece(data.training_captions(), 200)
    >>> tokenizer = SigLIPTokenizer(vocabulary, sequence_length=8)
    >>> stream = TrainingStream(data, SigLIPPreprocessor(tokenizer, image_size=16), 32, seed=0)
    >>> (batch,) = next(stream.batches())
    >>> batch["images"].shape, batch["token_ids"].shape
    ((32, 16, 16, 3), (32, 8))
    """

    def __init__(self, data, preprocessor, batch_size, seed, digits_per_class=2):
        self.num_classes = len(DIGIT_NAMES)
        self.digits_per_class = digits_per_class
        if batch_size <= self.num_classes * digits_per_class:
            raise ValueError(
                f"`batch_size` must exceed the "
                f"{self.num_classes * digits_per_class} digit images ({digits_per_class} per "
                f"class) each batch holds, got {batch_size}."
            )
        self.batch_size = batch_size
        self.image_size = preprocessor.image_size
        self.sequence_length = preprocessor.sequence_length
        self.rng = np.random.default_rng([seed, 2])
        splits = (data.train, data.digits_train)
        self.images = [preprocess_images(split.images, self.image_size) for split in splits]
        self.captions = [
            tokenized_choices(split.caption_choices, preprocessor.tokenizer) for split in splits
        ]
        labels = data.digits_train.labels
        self.digits_by_class = [(labels == label).nonzero()[0] for label in range(self.num_classes)]
        self.num_emoji = min(batch_size - self.num_classes * digits_per_class, len(data.train))
        if self.num_emoji + self.num_classes * digits_per_class < batch_size:
            raise ValueError(
                f"`batch_size` {batch_size} is more than the "
                f"{len(data.train)} training emoji plus {self.num_classes * digits_per_class} "
                "digits that fit in one batch without repeating an item."
            )

    def batch(self):
        """The next batch: `{"images": (B, size, size, 3), "token_ids": (B, length)}`."""
        rng = self.rng
        emoji_index = rng.choice(len(self.images[0]), self.num_emoji, replace=False)
        digit_index = np.concatenate(
            [
                rng.choice(items, self.digits_per_class, replace=False)
                for items in self.digits_by_class
            ]
        )
        images = np.concatenate([self.images[0][emoji_index], self.images[1][digit_index]])
        token_ids = np.stack(
            [self._draw_caption(0, i) for i in emoji_index]
            + [self._draw_caption(1, i) for i in digit_index]
        )
        order = rng.permutation(self.batch_size)
        return {"images": augment(images, rng)[order], "token_ids": token_ids[order]}

    def _draw_caption(self, split, item):
        choices = self.captions[split][item]
        return choices[self.rng.integers(len(choices))]

    def batches(self):
        """An endless Python generator of `(batch,)` tuples, the form `fit` takes.

        Not a `tf.data` pipeline: on 2 CPU cores, feeding these NumPy batches through
        `tf.data.Dataset.from_generator(...).prefetch(2)` cost more than drawing them
        (Nano/8 at batch 64, `fit` seconds per step with `tf.data` against this
        generator: JAX 0.184 / 0.147, PyTorch 0.205 / 0.121, TensorFlow 0.410 /
        0.255; one batch held in memory: JAX 0.135), while a batch takes about 9 ms
        to draw.
        """
        while True:
            yield (self.batch(),)


def tokenized_choices(caption_choices, tokenizer):
    """Each item's caption choices as token ids, tokenised in one call."""
    flat = [caption for choices in caption_choices for caption in choices]
    ids = tokenizer(flat)
    grouped, start = [], 0
    for choices in caption_choices:
        grouped.append(ids[start : start + len(choices)])
        start += len(choices)
    return grouped
