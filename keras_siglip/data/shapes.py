"""A procedurally drawn image-caption dataset: coloured shapes on noisy backgrounds.

Every caption names a size, a colour, a shape and a place ("a small red circle at
the top left"); the image shows exactly that. The held-out split uses caption
combinations never seen in training, so retrieval on it measures composition, not
memory. Images are drawn with Pillow from a seed: nothing is downloaded.

Captions are tokenised with the dataset's own closed word vocabulary, following
SigLIP's text rules: id 1 is EOS and pad ("sticky EOS"), every text ends with EOS
and is padded with it to the fixed length.
"""

import dataclasses
import itertools

import numpy as np
from PIL import Image, ImageDraw

SIZES = ("small", "large")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 80, 230),
    "yellow": (235, 215, 40),
    "purple": (150, 60, 200),
    "orange": (245, 140, 30),
    "white": (240, 240, 240),
    "cyan": (40, 210, 220),
}
SHAPES = ("circle", "square", "triangle", "cross", "ring", "diamond")
PLACES = {
    "at the top left": (0.3, 0.3),
    "at the top right": (0.7, 0.3),
    "at the bottom left": (0.3, 0.7),
    "at the bottom right": (0.7, 0.7),
    "in the centre": (0.5, 0.5),
}
PAD_ID = EOS_ID = 1
UNKNOWN_ID = 0
VOCABULARY = ("<unk>", "</s>", "a", *SIZES, *COLOURS, *SHAPES, "at", "the", "top", "bottom", "left", "right", "in", "centre")


@dataclasses.dataclass
class ShapesDataset:
    """Arrays of one split: images in [-1, 1], token ids and the caption strings."""

    images: np.ndarray
    token_ids: np.ndarray
    captions: list

    def inputs(self):
        return {"images": self.images, "token_ids": self.token_ids}


def all_captions():
    return [
        f"a {size} {colour} {shape} {place}"
        for size, colour, shape, place in itertools.product(SIZES, COLOURS, SHAPES, PLACES)
    ]


def tokenize(captions, sequence_length):
    """Word ids of each caption, EOS appended, padded with EOS to `sequence_length`."""
    index = {word: i for i, word in enumerate(VOCABULARY)}
    token_ids = np.full((len(captions), sequence_length), PAD_ID, dtype="int32")
    for row, caption in enumerate(captions):
        words = [index.get(word, UNKNOWN_ID) for word in caption.lower().split()]
        words = words[: sequence_length - 1] + [EOS_ID]
        token_ids[row, : len(words)] = words
    return token_ids


def draw(caption, image_size, rng):
    """One image showing `caption`, with random jitter, background and shade."""
    words = caption.split()
    size, colour, shape = words[1], words[2], words[3]
    place = " ".join(words[4:])
    background = rng.integers(0, 90, size=3)
    noise = rng.normal(0, 12, size=(image_size, image_size, 3))
    canvas = np.clip(background + noise, 0, 255).astype("uint8")
    image = Image.fromarray(canvas)
    pen = ImageDraw.Draw(image)
    centre_x, centre_y = PLACES[place]
    jitter = rng.uniform(-0.06, 0.06, size=2)
    cx, cy = (centre_x + jitter[0]) * image_size, (centre_y + jitter[1]) * image_size
    radius = image_size * (rng.uniform(0.09, 0.12) if size == "small" else rng.uniform(0.17, 0.21))
    shade = np.clip(np.array(COLOURS[colour]) * rng.uniform(0.8, 1.1), 0, 255)
    fill = tuple(int(c) for c in shade)
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if shape == "circle":
        pen.ellipse(box, fill=fill)
    elif shape == "ring":
        pen.ellipse(box, outline=fill, width=max(1, int(radius * 0.35)))
    elif shape == "square":
        pen.rectangle(box, fill=fill)
    elif shape == "triangle":
        pen.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=fill)
    elif shape == "diamond":
        pen.polygon([(cx, cy - radius), (cx + radius, cy), (cx, cy + radius), (cx - radius, cy)], fill=fill)
    elif shape == "cross":
        arm = radius * 0.35
        pen.rectangle((cx - radius, cy - arm, cx + radius, cy + arm), fill=fill)
        pen.rectangle((cx - arm, cy - radius, cx + arm, cy + radius), fill=fill)
    return np.asarray(image, dtype="float32") / 127.5 - 1.0


def load_shapes(
    split,
    num_pairs,
    image_size=32,
    sequence_length=16,
    held_out_fraction=0.2,
    seed=0,
):
    """Draw `num_pairs` image-caption pairs of one split.

    Args:
        split: `"train"` or `"test"`; the caption combinations of the two splits
            never overlap (which combinations are held out depends only on `seed`).
        num_pairs: number of pairs to draw.
        image_size: side of the square images.
        sequence_length: fixed text length.
        held_out_fraction: share of caption combinations kept for `"test"`.
        seed: seed of the split and of the drawing.

    Returns:
        A `ShapesDataset`.
    """
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test', got {split!r}.")
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"`held_out_fraction` must be in (0, 1), got {held_out_fraction}.")
    captions = all_captions()
    order = np.random.default_rng(seed).permutation(len(captions))
    num_held_out = int(round(held_out_fraction * len(captions)))
    chosen = order[:num_held_out] if split == "test" else order[num_held_out:]
    pool = [captions[i] for i in sorted(chosen)]
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    picked = [pool[i] for i in rng.choice(len(pool), size=num_pairs, replace=num_pairs > len(pool))]
    images = np.stack([draw(caption, image_size, rng) for caption in picked])
    return ShapesDataset(images, tokenize(picked, sequence_length), picked)
