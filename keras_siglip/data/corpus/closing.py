"""Closing a corpus: ending the reading of its iterators, and its repeated passes.

The readers of WebDataset shards and caption tables run Python inside `tf.data`'s
threads (`from_generator`). Deleting an iterator waits for its readers, and a reader
that waits for the GIL, which the deleting thread holds, waits for ever: the process
hangs. A `Closing` ends the reading before that happens: its `close` stops the file,
sample and pass streams (`until_closed`, `repeat_passes`) and the Python readers (at
their next sample, `ReaderStop`), then releases the GIL for a moment so that a reader
that waits for it can return. Corpora that were read are closed when the interpreter
exits, before it deletes their iterators.
"""

import atexit
import threading
import time

import tensorflow as tf

# Seconds `close` waits, with the GIL released, for the readers that run Python to find
# the stop and return.
CLOSE_WAIT = 0.5


class ReaderStop:
    """What a reader that runs Python calls between samples: true once its corpus is
    closed (it then returns). Calling it also marks the corpus as being read."""

    def __init__(self):
        self.event = threading.Event()
        self.reading = False

    def __call__(self):
        self.reading = True
        return self.event.is_set()


class Closing:
    """The state that ends a corpus's reading: `closed` (set by `close`), `failed`
    (set when a pass gave no usable sample) and the readers' `stop`."""

    def __init__(self):
        with tf.device("/CPU:0"):
            self.failed = tf.Variable(False, trainable=False, name="corpus_failed")
            self.closed = tf.Variable(False, trainable=False, name="corpus_closed")
        self.stop = ReaderStop()
        _OPENED.append(self)

    def close(self, wait=True):
        """End the reading of every iterator over the corpus; with `wait`, give the
        readers that run Python the time to return."""
        self.stop.event.set()
        self.closed.assign(True)
        if wait and self.stop.reading:
            time.sleep(CLOSE_WAIT)  # releases the GIL: a reader that waits for it finishes


# Every corpus opened in this process: those that were read are closed before the
# interpreter shuts down and deletes their iterators.
_OPENED = []


@atexit.register
def _close_opened():
    read = [closing for closing in _OPENED if closing.stop.reading]
    for closing in read:
        closing.close(wait=False)
    if read:
        time.sleep(CLOSE_WAIT)


def close_function(closing):
    """The `close()` of a corpus dataset (documented here)."""

    def close():
        """Stop reading this corpus: every iterator over it ends (its next batches
        are those already prepared), its reader threads return, and a new iterator
        raises an error. Call it before an iterator that is still reading is deleted,
        for example after `for batch in dataset.take(n)` or a `fit` on it, when the
        program goes on.

        Why: the readers of WebDataset shards and caption tables run Python inside
        `tf.data` threads; deleting an iterator waits for them, and one that waits
        for the GIL, which the deleting thread holds, waits for ever. Corpora that are
        still open when the program exits are closed first (an `atexit` hook).
        """
        closing.close()

    return close


def until_closed(dataset, closing):
    """`dataset` up to the `close` of its corpus."""
    closed = closing.closed
    return dataset.take_while(lambda *_: tf.logical_not(closed.read_value()))


def repeat_passes(one_pass, closing, repeat, files):
    """`one_pass` (read, decoded and checked) over and over (once unless `repeat`),
    until a pass gives no usable sample or the corpus is closed; an iterator over a
    closed corpus raises an error at once (`files` describes the corpus in it).

    A pass starts only once the previous one has ended, so its check has run: after
    a pass without a usable sample nothing reads on (in the background, where it
    could keep a reader waiting for the GIL). Each new iterator starts over (and
    fails again, instead of ending at once). The shuffle, inside the pass, still
    draws a new order each pass.
    """
    failed, closed = closing.failed, closing.closed
    message = f"The corpus of {files} was closed (its `close()`): open it again to read it."

    def first():
        check = tf.debugging.Assert(tf.logical_not(closed.read_value()), [message])
        with tf.control_dependencies([check]):
            return tf.logical_not(failed.assign(False))

    def going_on(index):
        return tf.cond(
            index == 0,
            first,
            lambda: tf.logical_not(failed.read_value() | closed.read_value()),
        )

    passes = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)
    return passes.take_while(going_on).flat_map(lambda index: one_pass)
