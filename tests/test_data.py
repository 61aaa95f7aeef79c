"""The embedded shapes dataset: determinism, disjoint splits, SigLIP's text rules."""

import numpy as np
import pytest

from keras_siglip.data import shapes


def test_same_seed_same_pairs_and_splits_never_share_a_caption():
    first = shapes.load_shapes("train", 20, image_size=16, seed=3)
    again = shapes.load_shapes("train", 20, image_size=16, seed=3)
    np.testing.assert_array_equal(first.images, again.images)
    assert first.captions == again.captions
    train = set(shapes.load_shapes("train", 400, image_size=8, seed=3).captions)
    test = set(shapes.load_shapes("test", 400, image_size=8, seed=3).captions)
    assert train and test and not train & test
    other = shapes.load_shapes("train", 20, image_size=16, seed=4)
    assert other.captions != first.captions


def test_images_are_scaled_to_minus_one_one():
    split = shapes.load_shapes("test", 5, image_size=24)
    assert split.images.shape == (5, 24, 24, 3)
    assert split.images.dtype == np.float32
    assert split.images.min() >= -1.0 and split.images.max() <= 1.0


def test_tokenize_appends_eos_and_pads_with_it_to_the_fixed_length():
    ids = shapes.tokenize(["a small red circle", "A LARGE blue ring in the centre"], 6)
    vocabulary = shapes.VOCABULARY
    assert [vocabulary[i] for i in ids[0]] == ["a", "small", "red", "circle", "</s>", "</s>"]
    # Truncation keeps the EOS last.
    assert [vocabulary[i] for i in ids[1]] == ["a", "large", "blue", "ring", "in", "</s>"]
    assert shapes.tokenize(["a purple blob"], 4)[0].tolist() == [2, vocabulary.index("purple"), 0, 1]


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="`split` must be 'train' or 'test', got 'valid'"):
        shapes.load_shapes("valid", 3)
    with pytest.raises(ValueError, match=r"`held_out_fraction` must be in \(0, 1\), got 1.5"):
        shapes.load_shapes("test", 3, held_out_fraction=1.5)
