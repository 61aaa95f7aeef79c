"""The validation hold-out: a deterministic split by key hash, with a cap."""

import json

import numpy as np
import pytest

from keras_siglip.data.holdout import HASH_RANGE, HoldOut, key_hash

KEYS = [f"shard-{i // 100:03d}/{i:07d}" for i in range(20000)]


def hashes(keys):
    return np.array([key_hash(key) for key in keys], dtype=np.uint64)


def test_train_and_validation_partition_the_keys():
    split = HoldOut(0.1)
    validation = [key for key in KEYS if split.is_validation(key)]
    training = [key for key in KEYS if split.keep(key)]
    assert sorted(validation + training) == sorted(KEYS)
    assert not set(validation) & set(training)
    # Each key is held out with probability 0.1, independently: within 5 standard deviations.
    assert abs(len(validation) - 2000) < 5 * np.sqrt(20000 * 0.1 * 0.9)
    # The rule is the hash against the threshold, counted by hand with NumPy.
    assert len(validation) == int((hashes(KEYS) < np.uint64(int(0.1 * HASH_RANGE))).sum())


def test_the_same_key_lands_on_the_same_side_in_any_form():
    split = HoldOut(0.5)
    for key in KEYS[:200]:
        assert (
            split.is_validation(key)
            == split.is_validation(key.encode())
            == HoldOut(0.5).is_validation(key)
        )
    with pytest.raises(TypeError, match="`key` must be a str or bytes"):
        split.keep(7)


def test_the_cap_keeps_the_samples_of_smallest_hash():
    split = HoldOut.from_keys(KEYS, fraction=0.02, cap=150)
    values = hashes(KEYS)
    expected = set(np.array(KEYS)[np.argsort(values)[:150]])
    assert {key for key in KEYS if split.is_validation(key)} == expected
    assert split.validation_samples == 150 and split.samples == len(KEYS)
    assert split.fraction < 0.02


def test_no_cap_reached_keeps_the_fraction():
    split = HoldOut.from_keys(KEYS, fraction=0.02, cap=2000)
    assert split.threshold == HoldOut(0.02).threshold
    counted = int((hashes(KEYS) < np.uint64(split.threshold)).sum())
    assert split.validation_samples == counted == sum(split.is_validation(key) for key in KEYS)
    assert HoldOut.from_keys(KEYS, fraction=0.02, cap=None).validation_samples == counted


def test_keys_shared_by_several_samples_stay_together_under_the_cap():
    # Each image path appears with three captions: the cap counts pairs.
    keys = [key for key in KEYS[:3000] for _ in range(3)]
    split = HoldOut.from_keys(keys, fraction=0.5, cap=100)
    held = [key for key in keys if split.is_validation(key)]
    assert len(held) == split.validation_samples <= 100
    assert len(held) >= 100 - 2  # only a key straddling the cap is left out
    assert all(held.count(key) == 3 for key in set(held))


def test_for_corpus_size_and_the_config_round_trip():
    assert HoldOut.for_corpus_size(10_000).fraction == pytest.approx(0.02)
    assert HoldOut.for_corpus_size(1_000_000).fraction == pytest.approx(2000 / 1_000_000)
    split = HoldOut.from_keys(KEYS, fraction=0.5, cap=10)
    again = HoldOut.from_config(json.loads(json.dumps(split.get_config())))
    assert [again.is_validation(key) for key in KEYS] == [split.is_validation(key) for key in KEYS]


@pytest.mark.parametrize("fraction", [1.0, -0.1, "2%", True])
def test_refuses_bad_fractions(fraction):
    with pytest.raises(ValueError, match="`fraction` must be a number in"):
        HoldOut(fraction)


def test_refuses_bad_caps_and_sizes():
    with pytest.raises(ValueError, match="`cap` must be"):
        HoldOut.from_keys(KEYS, cap=-1)
    with pytest.raises(ValueError, match="`size` must be"):
        HoldOut.for_corpus_size(0)
