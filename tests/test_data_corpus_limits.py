"""Corpus readers under hostile or useless input: images over the pixel limit and tar
members over the byte limit are skipped undecoded and unread; a corpus without a
usable sample ends with an error (also when repeated) instead of waiting forever."""

import io
import json
import os
import struct
import tarfile
import zlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import run_python

from keras_siglip.data import write_caption_table, write_tfrecord
from keras_siglip.data.corpus import (
    caption_table_corpus,
    open_corpus,
    tfrecord_corpus,
    webdataset,
    webdataset_corpus,
)
from keras_siglip.preprocessing import (
    SigLIPPreprocessor,
    SigLIPTokenizer,
    train_sentencepiece,
)

# The readers are tf.data whatever the Keras backend: tested once, on JAX.
pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="tf.data behaves the same under every Keras backend"
)

CAPTIONS = ["a red square", "a blue circle", "a green square", "a blue square"]


@pytest.fixture(scope="module")
def vocabulary():
    return train_sentencepiece(CAPTIONS * 8, 19)


@pytest.fixture(scope="module")
def preprocessor(vocabulary):
    return SigLIPPreprocessor(SigLIPTokenizer(vocabulary, sequence_length=8), image_size=8)


def png(width, height, value=0):
    """A grey PNG written row by row with zlib: a 20,000 x 20,000 one costs this test
    a few megabytes, and the file under a megabyte."""
    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes([value]) * width
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind, payload):
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def add(archive, name, contents):
    info = tarfile.TarInfo(name)
    info.size = len(contents)
    archive.addfile(info, io.BytesIO(contents))


def shard(path, samples):
    with tarfile.open(path, "w") as archive:
        for index, (image, caption) in enumerate(samples):
            add(archive, f"{index:04d}.png", image)
            add(archive, f"{index:04d}.txt", caption.encode())
    return str(path)


@pytest.mark.slow
def test_a_20000_by_20000_png_is_skipped_undecoded_in_bounded_memory(tmp_path, vocabulary):
    good = [(png(12, 10, 40 * index), caption) for index, caption in enumerate(CAPTIONS)]
    bomb = (png(20_000, 20_000), "a huge square")
    path = shard(tmp_path / "bomb.tar", good[:2] + [bomb] + good[2:])
    assert os.path.getsize(path) < 2**20
    (tmp_path / "vocabulary.spm").write_bytes(vocabulary)
    result = run_python(
        f"""
        import json, resource
        from keras_siglip.data.corpus import webdataset_corpus
        from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer
        with open({str(tmp_path / "vocabulary.spm")!r}, "rb") as file:
            tokenizer = SigLIPTokenizer(file.read(), sequence_length=8)
        dataset = webdataset_corpus({path!r}, SigLIPPreprocessor(tokenizer, 8), batch_size=1,
                                    shuffle_buffer=0)
        batches = list(dataset.as_numpy_iterator())
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec, so it
        # would report this test process's own peak when that is the larger.
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        peak = int(line.split()[1]) * 1024
        print(json.dumps({{"batches": len(batches), "counts": dataset.skipped.counts(),
                          "peak": peak}}))
    """,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["batches"] == 4
    assert report["counts"]["image_over_pixel_limit"] == 1
    assert sum(report["counts"].values()) == 1
    # Decoding it would take 20,000 * 20,000 * 3 floats: 4.8 GB.
    assert report["peak"] < 3 * 2**30


def test_the_pixel_limit_is_configurable_in_every_format(tmp_path, preprocessor):
    small, large = np.zeros((3, 6, 6, 3), np.uint8), np.zeros((2, 12, 12, 3), np.uint8)
    limit = 100  # between 36 and 144 pixels

    tars = [
        shard(tmp_path / "small.tar", [(png(6, 6), c) for c in CAPTIONS[:3]]),
        shard(tmp_path / "large.tar", [(png(12, 12), c) for c in CAPTIONS[:2]]),
    ]
    records = [
        write_tfrecord(str(tmp_path / name), images, CAPTIONS[: len(images)], image_format="png")[0]
        for name, images in (("small", small), ("large", large))
    ]
    tables = [
        write_caption_table(
            str(tmp_path / name), images, CAPTIONS[: len(images)], image_format="png"
        )
        for name, images in (("small_table", small), ("large_table", large))
    ]
    for function, files in (
        (webdataset_corpus, tars),
        (tfrecord_corpus, records),
        (caption_table_corpus, tables),
    ):
        dataset = function(files, preprocessor, batch_size=1, max_image_pixels=limit)
        assert len(list(dataset)) == 3, function.__name__
        assert dataset.skipped.counts()["image_over_pixel_limit"] == 2, function.__name__
        assert dataset.skipped.skipped == 2
        # At the default limit every image is read.
        dataset = function(files, preprocessor, batch_size=1)
        assert len(list(dataset)) == 5 and dataset.skipped.skipped == 0
    dataset = open_corpus(tmp_path / "*.tar", preprocessor, batch_size=1, max_image_pixels=limit)
    assert len(list(dataset)) == 3
    with pytest.raises(ValueError, match="max_image_pixels"):
        open_corpus(tars[0], preprocessor, batch_size=1, max_image_pixels=0)


def test_a_tar_member_over_the_byte_limit_is_skipped_unread(tmp_path, preprocessor, monkeypatch):
    path = tmp_path / "big.tar"
    big = 65 * 2**20
    with tarfile.open(path, "w") as archive:
        add(archive, "0000.png", png(6, 6))
        add(archive, "0000.txt", b"a red square")
        info = tarfile.TarInfo("0001.png")
        info.size = big
        archive.addfile(info, io.BytesIO(bytes(big)))
        add(archive, "0001.txt", b"a blue circle")
        add(archive, "0002.png", png(6, 6))
        add(archive, "0002.txt", b"a green square")
    extracted = []
    extractfile = tarfile.TarFile.extractfile

    def recording(self, member):
        extracted.append((member.name, member.size))
        return extractfile(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", recording)
    statuses = [s for chunk in webdataset.tar_samples(str(path)) for s in chunk["status"]]
    assert ("0001.png", big) not in extracted and ("0001.txt", 13) in extracted
    assert statuses.count(0) == 2 and len(statuses) == 3

    dataset = open_corpus(str(path), preprocessor, batch_size=1)
    assert len(list(dataset)) == 2
    assert dataset.skipped.counts()["member_over_byte_limit"] == 1
    # Raised above the member's size, the member is read (and is no image).
    dataset = webdataset_corpus(str(path), preprocessor, batch_size=1, max_member_bytes=66 * 2**20)
    assert len(list(dataset)) == 2
    assert dataset.skipped.counts() | {"bad_image": 0} == dict.fromkeys(dataset.skipped.counts(), 0)
    assert dataset.skipped.counts()["bad_image"] == 1


def test_empty_folders_and_globs_that_match_nothing_are_refused_at_once(tmp_path, preprocessor):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty.*matches no corpus file"):
        open_corpus(str(tmp_path / "empty"), preprocessor, batch_size=1)
    with pytest.raises(ValueError, match=r"nothing/\*\.tar.*matches no"):
        open_corpus(str(tmp_path / "nothing" / "*.tar"), preprocessor, batch_size=1)
    with pytest.raises(ValueError, match=r"\*\.tar.*matches no \.tar file"):
        webdataset_corpus(str(tmp_path / "*.tar"), preprocessor, batch_size=1)


def test_a_corpus_without_a_usable_sample_ends_with_an_error(tmp_path, preprocessor):
    corrupt = shard(tmp_path / "corrupt.tar", [(b"not an image", c) for c in CAPTIONS])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"corrupt\.tar.*4 bad_image"):
        list(webdataset_corpus(corrupt, preprocessor, batch_size=1))
    header_only = tmp_path / "captions.csv"
    header_only.write_text("image,caption\n")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"captions\.csv.*no usable sample"):
        list(open_corpus(str(header_only), preprocessor, batch_size=1))


@pytest.mark.slow
@pytest.mark.parametrize("corpus", ["corrupt_tar", "header_only_csv"])
def test_a_repeated_corpus_without_a_usable_sample_does_not_hang(tmp_path, vocabulary, corpus):
    if corpus == "corrupt_tar":
        path = shard(tmp_path / "corrupt.tar", [(b"\x89PNG broken", c) for c in CAPTIONS])
    else:
        path = str(tmp_path / "captions.csv")
        with open(path, "w") as file:
            file.write("image,caption\n")
    (tmp_path / "vocabulary.spm").write_bytes(vocabulary)
    result = run_python(f"""
        from keras_siglip.data.corpus import open_corpus
        from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer
        with open({str(tmp_path / "vocabulary.spm")!r}, "rb") as file:
            tokenizer = SigLIPTokenizer(file.read(), sequence_length=8)
        dataset = open_corpus({path!r}, SigLIPPreprocessor(tokenizer, 8), batch_size=2,
                              repeat=True)
        for batch in dataset:
            pass
    """)
    assert result.returncode != 0
    assert "no usable sample" in result.stderr and os.path.basename(path) in result.stderr


def test_a_corpus_that_skips_most_samples_warns_once(tmp_path, preprocessor):
    samples = [(png(6, 6), CAPTIONS[0])] + [(b"broken", c) for c in CAPTIONS[1:]]
    path = shard(tmp_path / "mostly_broken.tar", samples)
    dataset = webdataset_corpus(path, preprocessor, batch_size=1, repeat=True, shuffle_buffer=0)
    expected = r"More than half.*mostly_broken\.tar.*3 bad_image"
    with pytest.warns(UserWarning, match=expected) as caught:
        batches = list(dataset.take(3))
    assert len(batches) == 3
    assert sum("More than half" in str(warning.message) for warning in caught) == 1


def test_a_repeated_corpus_stops_after_its_error_and_a_new_iterator_checks_again(
    tmp_path, preprocessor
):
    # After the error the passes end (a pipeline still repeating in the background
    # could hang the process when its iterator is deleted); iterating again starts
    # over and fails again instead of ending silently.
    path = shard(tmp_path / "corrupt.tar", [(b"\x89PNG broken", c) for c in CAPTIONS])
    dataset = webdataset_corpus(path, preprocessor, batch_size=2, repeat=True)
    for _ in range(2):
        iterator = iter(dataset)
        with pytest.raises(tf.errors.InvalidArgumentError, match="no usable sample"):
            next(iterator)
        with pytest.raises(StopIteration):
            next(iterator)
        del iterator
    assert dataset.skipped.counts()["bad_image"] >= 2 * len(CAPTIONS)
