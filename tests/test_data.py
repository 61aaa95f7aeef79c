"""The embedded dataset: OpenMoji emoji with their names, and scikit-learn's digits."""

import numpy as np
import pytest

from keras_siglip.data import emoji


@pytest.fixture(scope="module")
def dataset():
    return emoji.load_emoji(seed=0, render_size=24)


def test_same_seed_same_split_and_splits_share_no_item_or_caption(dataset):
    again = emoji.load_emoji(seed=0, render_size=24)
    assert dataset.test.captions == again.test.captions
    np.testing.assert_array_equal(dataset.test.images, again.test.images)
    np.testing.assert_array_equal(dataset.digits_test.labels, again.digits_test.labels)
    other = emoji.load_emoji(seed=1, render_size=24)
    assert other.test.captions != dataset.test.captions

    assert len(dataset.test) == 300 and len(dataset.train) > 1500
    train_names = {c.lower() for choices in dataset.train.caption_choices for c in choices}
    test_names = {c.lower() for choices in dataset.test.caption_choices for c in choices}
    # Held-out emoji are new items; only a handful of aliases collide across items.
    assert len(test_names & train_names) < 0.02 * len(test_names)
    assert not set(dataset.test.captions) & set(dataset.train.captions)
    assert len(set(dataset.test.captions)) == len(dataset.test)


def test_images_are_drawn_and_not_blank(dataset):
    images = dataset.test.images
    assert images.dtype == np.uint8 and images.shape == (300, 24, 24, 3)
    ink = (images < 200).any(axis=-1).mean(axis=(1, 2))
    assert (ink > 0.05).all(), "every emoji covers part of its canvas"
    corners = images[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 255).mean() > 0.9, "the background is white"
    # Different emoji look different.
    flat = images.reshape(len(images), -1).astype("int32")
    assert len({row.tobytes() for row in flat}) > 290


def test_captions_come_from_the_emoji_package_names():
    assert emoji.emoji_name(":dog_face:") == "dog face"
    data = emoji.load_emoji(seed=0, render_size=8, num_held_out=10)
    everything = data.train.caption_choices + data.test.caption_choices
    assert any(choices[0] == "dog face" and "dog" in choices for choices in everything)
    assert any(choices[0] == "flag: France" for choices in everything)
    assert not any("skin tone" in c for choices in everything for c in choices)


def test_other_languages_add_caption_choices():
    data = emoji.load_emoji(seed=0, render_size=8, num_held_out=10, languages=("en", "es", "de"))
    everything = data.train.caption_choices + data.test.caption_choices
    dog = next(choices for choices in everything if choices[0] == "dog face")
    assert "cara de perro" in dog and "hundegesicht" in dog


def test_names_list_each_items_name_per_language():
    import emoji as emoji_package

    languages = ("en", "ja", "ru")
    data = emoji.load_emoji(seed=0, render_size=8, num_held_out=10, languages=languages)
    assert data.digits_test.names is None
    for split in (data.train, data.test):
        assert sorted(split.names) == sorted(languages)
        assert split.names["en"] == split.captions
        assert all(len(split.names[language]) == len(split) for language in languages)
    index = data.train.captions.index("dog face")
    assert data.train.names["ja"][index] == "イヌの顔"
    assert data.train.names["ru"][index] == "морда собаки"
    # Each name is the package's name for that item; None where it has none.
    fully_qualified = {
        emoji.emoji_name(entry["en"]): entry
        for entry in emoji_package.EMOJI_DATA.values()
        if entry["status"] == emoji_package.STATUS["fully_qualified"]
    }
    checked = 0
    for split in (data.train, data.test):
        for index, english in enumerate(split.captions):
            entry = fully_qualified[english.removeprefix("flag: ")]
            for language in ("ja", "ru"):
                name = split.names[language][index]
                if language in entry:
                    assert name == emoji.emoji_name(entry[language])
                    checked += 1
                else:
                    assert name is None
    assert checked > 0.9 * 2 * (len(data.train) + len(data.test))
    # A training item's names are among its caption choices, unless a held-out item
    # has the same name (no held-out name is trained on).
    held_out = {emoji._comparable(name) for name in data.test.captions}
    for index, choices in enumerate(data.train.caption_choices):
        name = data.train.names["ru"][index]
        assert name is None or name in choices or emoji._comparable(name) in held_out


def test_digits_split_by_image_and_captions_name_the_label(dataset):
    train, test = dataset.digits_train, dataset.digits_test
    assert len(train) + len(test) == 1797
    assert set(np.unique(test.labels)) == set(range(10))
    for caption, label in zip(test.captions, test.labels):
        assert caption == f"the digit {emoji.DIGIT_NAMES[label]}"
    from sklearn.datasets import load_digits

    count = np.bincount(load_digits().target, minlength=10)
    np.testing.assert_array_equal(
        np.bincount(train.labels, minlength=10) + np.bincount(test.labels, minlength=10), count
    )


def test_training_captions_hold_no_held_out_name(dataset):
    corpus = set(dataset.training_captions())
    assert not corpus & set(dataset.test.captions)
    assert "the digit seven" in corpus


def test_known_word_mask_compares_canonical_words():
    # Case and ASCII punctuation go as in the tokenizer ("dog-face" -> "dogface").
    mask = emoji.known_word_mask(
        ["Flag: France", "red heart!", "dog-face", "blue heart", "dog face"],
        ["flag for france", "Red Heart", "dogface"],
    )
    assert mask.dtype == bool and mask.tolist() == [True, True, True, False, False]


def test_about_half_the_held_out_names_use_only_trained_words(dataset):
    # An independent count with a plain regular expression over the same captions.
    import re

    def words(caption):
        return re.findall(
            r"[a-z0-9]+", caption.lower().replace("-", "").replace("’", "").replace("'", "")
        )

    trained = {word for caption in dataset.training_captions() for word in words(caption)}
    expected = [
        all(word in trained for word in words(caption)) for caption in dataset.test.captions
    ]
    mask = emoji.known_word_mask(dataset.test.captions, dataset.training_captions())
    assert np.mean(mask == np.array(expected)) > 0.97
    assert 0.3 < mask.mean() < 0.6


def test_known_words_split_holds_out_new_items_whose_words_are_all_trained(dataset):
    import re

    def words(caption):
        return re.findall(
            r"[a-z0-9]+", caption.lower().replace("-", "").replace("’", "").replace("'", "")
        )

    data = emoji.load_emoji(seed=0, render_size=8, held_out_split="known-words")
    assert len(data.test) == 300 and len(data.train) + len(data.test) == len(dataset.train) + len(
        dataset.test
    )
    trained = {word for caption in data.training_captions() for word in words(caption)}
    assert all(word in trained for caption in data.test.captions for word in words(caption))
    assert emoji.known_word_mask(data.test.captions, data.training_captions()).all()
    # Still new items: no held-out name is trained on, under any of its names.
    assert not set(data.training_captions()) & set(data.test.captions)
    assert not set(data.test.captions) & set(data.train.captions)
    # Deterministic for a seed, another split for another seed, and not just the
    # random split's known-word items (it draws further down the same order).
    again = emoji.load_emoji(seed=0, render_size=8, held_out_split="known-words")
    assert again.test.captions == data.test.captions
    assert (
        emoji.load_emoji(seed=1, render_size=8, held_out_split="known-words").test.captions
        != data.test.captions
    )
    random_known = {
        caption
        for caption, known in zip(
            dataset.test.captions,
            emoji.known_word_mask(dataset.test.captions, dataset.training_captions()),
        )
        if known
    }
    assert len(random_known & set(data.test.captions)) > 0.5 * len(random_known)
    assert len(set(data.test.captions) - set(dataset.test.captions)) > 100


def test_augment_identity_and_integer_shift_against_numpy(rng):
    images = rng.uniform(-1, 1, size=(3, 10, 12, 3)).astype("float32")

    class Fixed:
        """A generator returning given draws, to pin the transform."""

        def __init__(self, angle, zoom, shift):
            self.values = [angle, zoom, shift]

        def uniform(self, low, high, size):
            return np.broadcast_to(self.values.pop(0), size).astype("float64")

    same = emoji.augment(images, Fixed(0.0, 1.0, 0.0), max_shift=1.0)
    np.testing.assert_allclose(same, images, atol=1e-6)
    # Shift by +2 rows (0.2 * 10) and +2.4 columns is not integral; use 0.2 of each side
    # on a square image instead.
    square = images[:, :10, :10]
    moved = emoji.augment(square, Fixed(0.0, 1.0, 0.2), max_shift=1.0, fill=7.0)
    expected = np.full_like(square, 7.0)
    expected[:, 2:, 2:] = square[:, :-2, :-2]
    np.testing.assert_allclose(moved, expected, atol=1e-5)
    # A half-turn maps pixel (y, x) to (h-1-y, w-1-x).
    turned = emoji.augment(square, Fixed(180.0, 1.0, 0.0), max_rotation=180.0)
    np.testing.assert_allclose(turned, square[:, ::-1, ::-1], atol=1e-4)


def test_augment_against_scipy_interpolation(rng):
    """Random rotations, zooms and shifts of non-square images against SciPy's bilinear
    `map_coordinates` at the same source coordinates (outside pixels are `fill`)."""
    from scipy import ndimage

    images = rng.uniform(-1, 1, size=(5, 9, 13, 3)).astype("float32")
    draws = np.random.default_rng(7)
    augmented = emoji.augment(
        images, draws, max_rotation=40.0, scale=(0.6, 1.4), max_shift=0.3, fill=0.5
    )

    draws = np.random.default_rng(7)
    angle = np.deg2rad(draws.uniform(-40.0, 40.0, size=5))
    zoom = draws.uniform(0.6, 1.4, size=5)
    shift = draws.uniform(-0.3, 0.3, size=(5, 2)) * np.array([9, 13])
    ys, xs = np.mgrid[0:9, 0:13].astype("float64")
    cy, cx = 4.0, 6.0
    for index in range(5):
        dy = (ys - cy - shift[index, 0]) / zoom[index]
        dx = (xs - cx - shift[index, 1]) / zoom[index]
        source_y = cy + np.cos(angle[index]) * dy - np.sin(angle[index]) * dx
        source_x = cx + np.sin(angle[index]) * dy + np.cos(angle[index]) * dx
        for channel in range(3):
            expected = ndimage.map_coordinates(
                images[index, :, :, channel].astype("float64"),
                [source_y, source_x],
                order=1,
                mode="grid-constant",
                cval=0.5,
            )
            np.testing.assert_allclose(augmented[index, :, :, channel], expected, atol=2e-5)
    assert augmented.dtype == np.float32


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="`num_held_out` must be a positive integer, got 0"):
        emoji.load_emoji(num_held_out=0)
    with pytest.raises(ValueError, match="`num_held_out` must be smaller than the"):
        emoji.load_emoji(num_held_out=100000, render_size=8)
    with pytest.raises(ValueError, match="Unknown language 'xx' in `languages`"):
        emoji.load_emoji(languages=("en", "xx"), render_size=8)
    with pytest.raises(
        ValueError, match=r"`digits_held_out_fraction` must be in \(0, 1\), got 1.0"
    ):
        emoji.load_emoji(digits_held_out_fraction=1.0)
    with pytest.raises(
        ValueError,
        match=r"`held_out_split` must be one of \('random', 'known-words'\), got 'words'",
    ):
        emoji.load_emoji(held_out_split="words", render_size=8)
    with pytest.raises(
        ValueError,
        match="`num_held_out` 1800 is more than the .* emoji whose words all stay in training",
    ):
        emoji.load_emoji(num_held_out=1800, render_size=8, held_out_split="known-words")
