"""A validation hold-out for a corpus: a fixed share of its pairs, never trained on.

Each sample is assigned by a hash of its key (the name that identifies it in the
corpus: a tar member's key, a caption table's image path, a TFRecord's file and
record number), not by its place in a shuffled stream: the same sample lands on the
same side in every run, every process and every resumed run, and the training
reader and the validation reader agree without sharing state. The reader applies
`split.keep(key)` to skip validation samples while training and
`split.is_validation(key)` to read only them for evaluation.

The hash is BLAKE2b (64 bits) of the key's UTF-8 bytes: the same in every Python
process (Python's own `hash` of a string is salted per process). A sample is held out
when its hash, read as a fraction of 2**64, is below the split's fraction, so each
sample is held out with probability `fraction`, independently of the others; samples
sharing a key (one image with several captions in a table) land on the same side,
which keeps an image's other captions out of training too.

Default: 2% of the pairs, capped at 2,000 (`DEFAULT_VALIDATION_FRACTION`,
`DEFAULT_VALIDATION_CAP`): enough for recall@1 to within about one percentage point,
while a large corpus does not spend hours on evaluation. A rule decided by each
sample alone cannot count, so the cap needs the corpus's keys or its size:
`HoldOut.from_keys` takes one pass over the keys (names only, no image decoded) and
lowers the hash threshold until at most `cap` pairs fall below it (exactly the
`cap` pairs of smallest hash, when more than `cap` fall under the fraction);
`HoldOut.for_corpus_size` lowers the fraction to `cap / size` when only the size is
known (then about `cap` pairs, give or take the square root). The threshold, an
integer, is what a run records (`get_config`) so that a resumed run holds out the
same pairs.
"""

import hashlib
import heapq
import numbers

__all__ = [
    "DEFAULT_VALIDATION_CAP",
    "DEFAULT_VALIDATION_FRACTION",
    "HoldOut",
    "key_hash",
]

DEFAULT_VALIDATION_FRACTION = 0.02
DEFAULT_VALIDATION_CAP = 2000
HASH_RANGE = 2**64


def key_hash(key):
    """The 64-bit hash of a sample's key (`str`, or UTF-8 `bytes` as `tf.data` gives).

    Example:

    >>> key_hash("000042") == key_hash(b"000042")
    True
    """
    if isinstance(key, str):
        key = key.encode("utf-8")
    elif not isinstance(key, bytes):
        raise TypeError(f"`key` must be a str or bytes naming a sample, got {type(key).__name__}.")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


class HoldOut:
    """Which samples of a corpus are held out for validation, by a hash of their key.

    Args:
        fraction: the share of samples held out, in [0, 1).
        threshold: instead of `fraction`, the hash threshold itself (an int in
            [0, 2**64]), as `get_config` records it.

    Example:

    >>> split = HoldOut(0.5)
    >>> keys = [f"{i:06d}" for i in range(1000)]
    >>> held_out = [key for key in keys if split.is_validation(key)]
    >>> 400 < len(held_out) < 600, all(not split.keep(key) for key in held_out)
    (True, True)
    >>> capped = HoldOut.from_keys(keys, fraction=0.5, cap=100)
    >>> sum(capped.is_validation(key) for key in keys), capped.validation_samples
    (100, 100)
    """

    def __init__(self, fraction=DEFAULT_VALIDATION_FRACTION, threshold=None):
        if threshold is None:
            if (
                isinstance(fraction, bool)
                or not isinstance(fraction, numbers.Real)
                or not 0 <= fraction < 1
            ):
                raise ValueError(
                    f"`fraction` must be a number in [0, 1) (the share of pairs held out), "
                    f"got {fraction!r}."
                )
            threshold = int(fraction * HASH_RANGE)
        elif (
            isinstance(threshold, bool)
            or not isinstance(threshold, numbers.Integral)
            or not (0 <= threshold <= HASH_RANGE)
        ):
            raise ValueError(f"`threshold` must be an int in [0, 2**64], got {threshold!r}.")
        self.threshold = int(threshold)
        # Counted by `from_keys`; unknown for a split made from a fraction.
        self.validation_samples = None
        self.samples = None

    @property
    def fraction(self):
        """The share of keys held out (the threshold over 2**64)."""
        return self.threshold / HASH_RANGE

    def is_validation(self, key):
        """Whether the sample named `key` is held out for validation."""
        return key_hash(key) < self.threshold

    def keep(self, key):
        """Whether the sample named `key` is trained on (`not is_validation(key)`)."""
        return key_hash(key) >= self.threshold

    @classmethod
    def from_keys(cls, keys, fraction=DEFAULT_VALIDATION_FRACTION, cap=DEFAULT_VALIDATION_CAP):
        """The split holding out `fraction` of the samples, at most `cap` of them.

        Args:
            keys: every sample's key, one per sample (a key repeated for samples
                sharing it); read once, holding at most `cap + 1` hashes.
            fraction: the share held out when that is at most `cap` samples.
            cap: the most samples held out, or `None` for no cap.

        Returns:
            A `HoldOut` whose `validation_samples` and `samples` are counted.
        """
        split = cls(fraction)
        if cap is not None and (
            isinstance(cap, bool) or not isinstance(cap, numbers.Integral) or cap < 0
        ):
            raise ValueError(f"`cap` must be a non-negative int or None, got {cap!r}.")
        smallest = []  # negated hashes: a max-heap of the cap + 1 smallest under the fraction
        total = under = 0
        for key in keys:
            total += 1
            value = key_hash(key)
            if value >= split.threshold:
                continue
            under += 1
            if cap is None:
                continue
            if len(smallest) <= cap:
                heapq.heappush(smallest, -value)
            elif value < -smallest[0]:
                heapq.heapreplace(smallest, -value)
        held = under
        if cap is not None and under > cap:
            # The (cap + 1)-th smallest hash: strictly below it lie at most `cap`
            # samples (fewer when samples sharing a key straddle it).
            split.threshold = -smallest[0]
            held = sum(1 for value in smallest if -value < split.threshold)
        split.validation_samples, split.samples = held, total
        return split

    @classmethod
    def for_corpus_size(
        cls, size, fraction=DEFAULT_VALIDATION_FRACTION, cap=DEFAULT_VALIDATION_CAP
    ):
        """The split for a corpus of `size` samples: `min(fraction, cap / size)`.

        Without the keys, the cap holds on average: about `cap` samples, give or
        take `sqrt(cap)`.
        """
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(
                f"`size` must be a positive int (samples in the corpus), got {size!r}."
            )
        if cap is not None and (
            isinstance(cap, bool) or not isinstance(cap, numbers.Integral) or cap < 0
        ):
            raise ValueError(f"`cap` must be a non-negative int or None, got {cap!r}.")
        return cls(fraction if cap is None else min(fraction, cap / size))

    def get_config(self):
        """`{"threshold": int, "fraction": float}`: JSON that `from_config` reads back."""
        return {"threshold": self.threshold, "fraction": self.fraction}

    @classmethod
    def from_config(cls, config):
        return cls(threshold=config["threshold"])

    def __repr__(self):
        return f"HoldOut(fraction={self.fraction:.6g})"
