"""Corpus pipelines: tar shards, TFRecord files and caption tables, read back through tf.data.

The fixtures are written by `keras_siglip.data.writers` from the embedded dataset; the
expected images and token ids come from Pillow's decoding and the package's eager
`SigLIPPreprocessor`, the independent path every other module uses.
"""

import io
import json
import os
import sys
import tarfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_siglip import SigLIP
from keras_siglip.data import (
    REASONS,
    SkippedSamples,
    caption_table_corpus,
    corpus_captions,
    corpus_files,
    encode_image,
    load_emoji,
    open_corpus,
    tfrecord_corpus,
    webdataset_corpus,
    write_caption_table,
    write_corpus,
    write_tfrecord,
    write_webdataset,
)
from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer, train_sentencepiece

SIZE = 24
FORMATS = ("webdataset", "tfrecord", "csv", "tsv", "parquet")
# The pipelines are tf.data whatever the Keras backend: their behaviour is tested once,
# on JAX; a round trip and `fit` run on every backend.
backend_independent = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="tf.data behaves the same under every Keras backend; tested on JAX "
    "(round trip and fit run here)",
)


@pytest.fixture(scope="module")
def emoji_split():
    data = load_emoji(render_size=SIZE, num_held_out=300)
    return data.test  # 300 emoji with distinct names


@pytest.fixture(scope="module")
def preprocessor(emoji_split):
    corpus = emoji_split.captions + ["a photo of an item", "a red square", "the digit seven"]
    tokenizer = SigLIPTokenizer(
        train_sentencepiece(corpus, 400, hard_vocab_limit=False), sequence_length=12
    )
    return SigLIPPreprocessor(tokenizer, image_size=SIZE)


def _read_all(dataset):
    images, token_ids = [], []
    for batch in dataset.as_numpy_iterator():
        images.append(batch["images"])
        token_ids.append(batch["token_ids"])
    return np.concatenate(images), np.concatenate(token_ids)


def _pair_keys(images, token_ids):
    """Each pair as bytes: the image back in uint8 (exact at the drawn size) and its ids."""
    pixels = np.round((images + 1.0) * 127.5).astype(np.uint8)
    return sorted(p.tobytes() + t.tobytes() for p, t in zip(pixels, token_ids))


def _open(corpus_format, paths, preprocessor, **options):
    if corpus_format == "webdataset":
        return webdataset_corpus(paths, preprocessor, **options)
    if corpus_format == "tfrecord":
        return tfrecord_corpus(paths, preprocessor, **options)
    return caption_table_corpus(paths[0], preprocessor, **options)


@pytest.mark.parametrize("corpus_format", FORMATS)
def test_each_format_round_trips_the_embedded_dataset(
    corpus_format, emoji_split, preprocessor, tmp_path
):
    if keras.backend.backend() != "jax" and corpus_format != "webdataset":
        pytest.skip(
            "tf.data behaves the same under every Keras backend: all five formats run on JAX"
        )
    images, captions = emoji_split.images, emoji_split.captions
    options = {"samples_per_shard": 70} if corpus_format == "webdataset" else {}
    options = {"samples_per_file": 70} if corpus_format == "tfrecord" else options
    paths = write_corpus(tmp_path, corpus_format, images, captions, image_format="png", **options)
    dataset = _open(corpus_format, paths, preprocessor, batch_size=32, drop_remainder=False, seed=3)
    out_images, out_ids = _read_all(dataset)

    # Same pairs out as in (PNG is lossless and a resize to the same size is exact).
    assert out_images.shape == (300, SIZE, SIZE, 3) and out_ids.shape == (300, 12)
    assert _pair_keys(out_images, out_ids) == _pair_keys(
        images / 127.5 - 1.0, preprocessor.tokenizer(captions)
    )
    np.testing.assert_allclose(
        np.sort(out_images.ravel()), np.sort((images / 127.5 - 1.0).ravel()), atol=1e-5
    )
    # ...and shuffled: the pipeline does not hand them back in file order.
    assert not np.array_equal(out_ids, preprocessor.tokenizer(captions))
    assert dataset.skipped.read == 300 and dataset.skipped.skipped == 0


@backend_independent
def test_batches_equal_the_preprocessor_on_the_decoded_images(tmp_path, preprocessor, rng):
    """JPEG at another size, grey, grey+alpha, RGBA, WebP and grey JPEG: the pipeline decodes
    and resizes as `SigLIPPreprocessor` does on Pillow's decoding of the same files."""
    smooth = np.asarray(
        Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(
            (45, 37), Image.BICUBIC
        )
    )
    alpha = rng.integers(0, 256, (37, 45, 1), dtype=np.uint8)
    samples = [
        ("jpg", encode_image(smooth, "jpeg", quality=90)),
        ("png", encode_image(smooth[..., 0], "png")),
        ("png", encode_image(np.concatenate([smooth[..., :1], alpha], -1), "png")),
        ("png", encode_image(np.concatenate([smooth, alpha], -1), "png")),
        ("webp", encode_image(smooth, "webp", quality=80)),
        ("jpeg", encode_image(smooth[::-1], "jpeg")),
        ("jpg", encode_image(smooth[..., 1], "jpeg", quality=90)),  # grey JPEG, decoded to RGB
    ]
    captions = [
        "A red square!",
        "the digit seven",
        "a photo of an item",
        "a red square",
        "a photo",
        "seven",
        "grey",
    ]
    shard = tmp_path / "mixed.tar"
    with tarfile.open(shard, "w") as archive:
        for index, ((extension, contents), caption) in enumerate(zip(samples, captions)):
            _add(archive, f"{index:04d}.{extension}", contents)
            _add(archive, f"{index:04d}.txt", caption.encode())
    dataset = webdataset_corpus(str(shard), preprocessor, batch_size=7, shuffle_buffer=0)
    batch = next(dataset.as_numpy_iterator())

    files = []
    for index, (extension, contents) in enumerate(samples):
        files.append(str(tmp_path / f"{index}.{extension}"))
        with open(files[-1], "wb") as file:
            file.write(contents)
    expected = preprocessor({"images": files, "texts": captions})
    np.testing.assert_array_equal(batch["token_ids"], expected["token_ids"])
    # Pillow and TensorFlow both decode with libjpeg-turbo (the accurate integer DCT);
    # the same resize op follows: equal to float round-off.
    np.testing.assert_allclose(batch["images"], expected["images"], atol=1e-5)


@backend_independent
def test_jpegs_with_exif_orientation_and_cmyk_jpegs_read_as_pillow_reads_them(
    tmp_path, preprocessor, rng
):
    """Phone photos carry an EXIF orientation and print files are often CMYK: the
    pipeline turns the first upright and converts the second to RGB, as Pillow
    (`read_image`) does for image files."""
    smooth = np.asarray(
        Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(
            (45, 30), Image.BICUBIC
        )
    )
    samples = []
    for orientation in (1, 3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        buffer = io.BytesIO()
        Image.fromarray(smooth).save(buffer, "JPEG", quality=90, exif=exif)
        samples.append(buffer.getvalue())
    buffer = io.BytesIO()
    Image.fromarray(smooth).convert("CMYK").save(buffer, "JPEG", quality=90)
    samples.append(buffer.getvalue())
    assert Image.open(io.BytesIO(samples[-1])).mode == "CMYK"
    captions = ["a red square", "the digit seven", "a photo of an item", "a photo", "seven"]
    shard = tmp_path / "photos.tar"
    files = []
    with tarfile.open(shard, "w") as archive:
        for index, (contents, caption) in enumerate(zip(samples, captions)):
            _add(archive, f"{index:04d}.jpg", contents)
            _add(archive, f"{index:04d}.txt", caption.encode())
            files.append(str(tmp_path / f"{index}.jpg"))
            with open(files[-1], "wb") as file:
                file.write(contents)
    batch = next(
        webdataset_corpus(
            str(shard), preprocessor, batch_size=5, shuffle_buffer=0
        ).as_numpy_iterator()
    )

    expected = preprocessor({"images": files, "texts": captions})
    np.testing.assert_allclose(batch["images"], expected["images"], atol=1e-5)
    # The orientations give different images (the test would pass without EXIF otherwise).
    assert all(np.abs(batch["images"][0] - batch["images"][i]).max() > 0.1 for i in (1, 2, 3))


@backend_independent
def test_corrupt_samples_are_skipped_and_counted_in_tar_shards(tmp_path, preprocessor):
    good = encode_image(np.full((10, 12, 3), 200, np.uint8), "jpeg")
    members = [
        ("0.jpg", good),
        ("0.txt", b"a red square"),  # kept
        ("1.jpg", b"not an image"),
        ("1.txt", b"a photo"),  # bad_image
        ("2.jpg", good[: len(good) // 2]),
        ("2.txt", b"a photo"),  # bad_image: cut short
        ("3.jpg", good),  # missing_caption
        ("4.txt", b"a caption without its image"),  # missing_image
        ("5.jpg", good),
        ("5.txt", b" ?!. "),  # empty_caption
        ("6.jpg", good),
        ("6.txt", b"\xff\xfe bad bytes"),  # bad_caption
        ("7.jpg", good),
        ("7.json", b"{not json"),  # bad_caption
        ("8.jpg", good),
        ("8.json", json.dumps({"url": "x"}).encode()),  # missing_caption
        ("9.png", encode_image(np.zeros((5, 5), np.uint8), "png")),
        ("9.json", b'{"caption": "the digit seven"}'),  # kept
    ]
    with tarfile.open(tmp_path / "a.tar", "w") as archive:
        for name, contents in members:
            _add(archive, name, contents)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        _add(archive, "10.jpg", good)
        _add(archive, "10.txt", b"seven")
        _add(archive, "11.jpg", good)
    # Cut inside the data of 11.jpg: header, padded image, header and text of 10, header of 11.
    cut = 512 + -(-len(good) // 512) * 512 + 1024 + 512 + 100
    (tmp_path / "b.tar").write_bytes(buffer.getvalue()[:cut])
    with open(tmp_path / "c.tar", "wb") as file:
        file.write(b"\x00" * 10 + b"not a tar")

    dataset = webdataset_corpus(
        str(tmp_path / "*.tar"), preprocessor, batch_size=8, drop_remainder=False
    )
    _, token_ids = _read_all(dataset)
    texts = sorted(preprocessor.tokenizer.detokenize(token_ids))
    assert texts == ["a red square", "seven", "the digit seven"]
    counts = dataset.skipped.counts()
    assert counts == {
        "unreadable_file": 2,
        "bad_record": 0,
        "missing_image": 1,
        "bad_image": 2,
        "missing_caption": 2,
        "bad_caption": 2,
        "empty_caption": 1,
        "image_over_pixel_limit": 0,
        "member_over_byte_limit": 0,
    }
    assert dataset.skipped.read == 3 + sum(counts.values())
    assert str(dataset.skipped).startswith(
        "read 13 samples, skipped 10 (2 unreadable_file, 1 missing_image"
    )


@backend_independent
def test_corrupt_samples_are_skipped_and_counted_in_tfrecord_files(tmp_path, preprocessor):
    good = encode_image(np.full((10, 12, 3), 90, np.uint8), "png")

    def example(**features):
        feature = {
            k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
            for k, v in features.items()
        }
        return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()

    records = [
        example(image=good, caption=b"a red square"),  # kept
        example(image=good),  # missing_caption
        example(caption=b"a photo"),  # missing_image
        example(image=b"\x89PNG broken", caption=b"a photo"),  # bad_image
        example(image=good, caption=b"..."),  # empty_caption
        b"this is not an Example proto \xff\xff",  # bad_record
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "image": tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
                    "caption": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x"])),
                }
            )
        ).SerializeToString(),  # bad_record: an int feature where bytes are expected
        example(image=good, caption=b"the digit seven"),  # kept
    ]
    with tf.io.TFRecordWriter(str(tmp_path / "a.tfrecord")) as writer:
        for record in records:
            writer.write(record)
    cut = write_tfrecord(
        tmp_path / "cut",
        [np.zeros((4, 4, 3), np.uint8)] * 3,
        ["seven", "one", "two"],
        image_format="png",
    )
    with open(cut[0], "rb") as file:
        contents = file.read()
    with open(
        tmp_path / "b.tfrecord", "wb"
    ) as file:  # the first record whole, the second cut short
        file.write(contents[: len(contents) // 3 + 30])

    dataset = tfrecord_corpus(
        [str(tmp_path / "a.tfrecord"), str(tmp_path / "b.tfrecord")],
        preprocessor,
        batch_size=8,
        drop_remainder=False,
    )
    _, token_ids = _read_all(dataset)
    assert sorted(preprocessor.tokenizer.detokenize(token_ids)) == [
        "a red square",
        "seven",
        "the digit seven",
    ]
    assert dataset.skipped.counts() == {
        "unreadable_file": 1,
        "bad_record": 2,
        "missing_image": 1,
        "bad_image": 1,
        "missing_caption": 1,
        "bad_caption": 0,
        "empty_caption": 1,
        "image_over_pixel_limit": 0,
        "member_over_byte_limit": 0,
    }


@backend_independent
@pytest.mark.parametrize("table_format", ("csv", "parquet"))
def test_corrupt_samples_are_skipped_and_counted_in_caption_tables(
    table_format, tmp_path, preprocessor
):
    images = [np.full((6, 7, 3), value, np.uint8) for value in (10, 60, 110, 160, 210)]
    captions = ["a red square", None, "the digit seven", "a photo", "!!"]
    table = write_caption_table(tmp_path, images, captions, table_format=table_format)
    os.remove(tmp_path / "images" / "000000002.jpg")  # unreadable_file
    with open(tmp_path / "images" / "000000003.jpg", "wb") as file:
        file.write(b"garbage")  # bad_image
    dataset = caption_table_corpus(table, preprocessor, batch_size=4, drop_remainder=False)
    _, token_ids = _read_all(dataset)
    assert preprocessor.tokenizer.detokenize(token_ids) == ["a red square"]
    expected = dict.fromkeys(REASONS, 0) | {
        "unreadable_file": 1,
        "bad_image": 1,
        "empty_caption": 1,
    }
    # A null Parquet cell is a missing caption; CSV has no null, only an empty cell.
    expected["missing_caption" if table_format == "parquet" else "empty_caption"] += 1
    assert dataset.skipped.counts() == expected


@backend_independent
def test_counts_are_readable_during_a_pass_and_add_up_over_passes(tmp_path, preprocessor):
    paths = write_webdataset(
        tmp_path, np.zeros((40, 8, 8, 3), np.uint8), ["a photo"] * 39 + ["?"], samples_per_shard=10
    )
    skipped = SkippedSamples()
    dataset = webdataset_corpus(
        paths, preprocessor, batch_size=8, skipped=skipped, shuffle_buffer=0
    )
    assert dataset.skipped is skipped
    iterator = iter(dataset)
    next(iterator)
    assert 8 <= skipped.read <= 40
    rest = sum(1 for _ in iterator)
    assert rest == 3 and skipped.read == 40 and skipped.counts()["empty_caption"] == 1
    sum(1 for _ in dataset)
    assert skipped.read == 80 and skipped.skipped == 2
    skipped.reset()
    assert skipped.read == 0


@backend_independent
@pytest.mark.parametrize("corpus_format", ("webdataset", "tfrecord"))
def test_per_host_sharding_splits_files_without_overlap(
    corpus_format, emoji_split, tmp_path, preprocessor
):
    captions = emoji_split.captions[:42]
    option = "samples_per_shard" if corpus_format == "webdataset" else "samples_per_file"
    paths = write_corpus(
        tmp_path, corpus_format, np.zeros((42, 8, 8, 3), np.uint8), captions, **{option: 6}
    )  # 7 files
    expected = [row.tobytes() for row in preprocessor.tokenizer(captions)]
    assert len(set(expected)) == 42
    seen = []
    for index in range(3):
        dataset = _open(
            corpus_format, paths, preprocessor, batch_size=4, drop_remainder=False, shard=(index, 3)
        )
        rows = [row.tobytes() for row in _read_all(dataset)[1]]
        # Process `index` reads whole files index, index + 3, ...: the samples those files hold.
        assert sorted(rows) == sorted(
            expected[6 * f + i] for f in range(index, 7, 3) for i in range(6)
        )
        seen.append(set(rows))
    assert seen[0] | seen[1] | seen[2] == set(expected)
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    with pytest.raises(ValueError, match="7 files cannot be split between 8 processes"):
        _open(corpus_format, paths, preprocessor, batch_size=4, shard=(0, 8))


@backend_independent
def test_one_table_is_split_between_processes_by_row(tmp_path, preprocessor):
    captions = ["a red square", "a photo", "the digit seven", "a photo of an item", "seven"]
    table = write_caption_table(tmp_path, np.zeros((5, 6, 6, 3), np.uint8), captions)
    texts = [
        preprocessor.tokenizer.detokenize(
            _read_all(
                caption_table_corpus(
                    table, preprocessor, batch_size=8, drop_remainder=False, shard=(index, 2)
                )
            )[1]
        )
        for index in range(2)
    ]
    assert sorted(texts[0]) == sorted(captions[0::2]) and sorted(texts[1]) == sorted(captions[1::2])


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="the default shard comes from JAX's process index"
)
def test_default_shard_is_the_jax_process(tmp_path, preprocessor):
    import jax

    assert (jax.process_index(), jax.process_count()) == (0, 1)
    paths = write_webdataset(
        tmp_path, np.zeros((4, 6, 6, 3), np.uint8), ["a photo"] * 4, samples_per_shard=1
    )
    dataset = webdataset_corpus(paths, preprocessor, batch_size=4)
    assert _read_all(dataset)[1].shape == (4, 12)


@pytest.mark.slow
@pytest.mark.parametrize("corpus_format", FORMATS)
def test_fit_runs_on_each_format(corpus_format, emoji_split, preprocessor, tmp_path):
    if keras.backend.backend() != "jax" and corpus_format != "webdataset":
        pytest.skip("one format is enough to show fit on this backend; all five run on JAX")
    paths = write_corpus(
        tmp_path, corpus_format, emoji_split.images[:64], emoji_split.captions[:64]
    )
    dataset = open_corpus(
        os.path.join(tmp_path, "*." + ("tar" if corpus_format == "webdataset" else corpus_format)),
        preprocessor,
        batch_size=16,
        repeat=True,
        seed=0,
    )
    model = SigLIP.from_variant(
        "Pico/8",
        image_size=SIZE,
        sequence_length=12,
        vocabulary_size=preprocessor.tokenizer.vocabulary_size,
    )
    model.compile(learning_rate=1e-3)
    history = model.fit(dataset, steps_per_epoch=3, epochs=2, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 2 and np.isfinite(losses).all()
    assert dataset.skipped.read >= 6 * 16 and dataset.skipped.skipped == 0
    assert len(paths) >= 1


@backend_independent
def test_open_corpus_tells_the_formats_apart(tmp_path, preprocessor):
    images, captions = np.zeros((3, 6, 6, 3), np.uint8), ["a photo", "seven", "a red square"]
    write_webdataset(tmp_path / "shards", images, captions)
    (tmp_path / "shards" / "00000.parquet").write_bytes(b"img2dataset metadata, not read")
    write_tfrecord(tmp_path / "records", images, captions)
    table = write_caption_table(tmp_path / "table", images, captions, table_format="tsv")
    assert corpus_files(str(tmp_path / "shards"))[0] == "webdataset"
    assert corpus_files(str(tmp_path / "records" / "*"))[0] == "tfrecord"
    assert corpus_files(table) == ("caption_table", [table])
    for source in (str(tmp_path / "shards"), str(tmp_path / "records"), table):
        texts = preprocessor.tokenizer.detokenize(
            _read_all(open_corpus(source, preprocessor, 4, drop_remainder=False))[1]
        )
        assert sorted(texts) == sorted(captions)
    assert corpus_captions(str(tmp_path / "shards"), limit=2) == captions[:2]
    assert corpus_captions(str(tmp_path / "records")) == captions
    assert corpus_captions(table) == captions
    with pytest.raises(
        ValueError, match=r"matches files of several formats \(webdataset, caption_table\)"
    ):
        corpus_files(str(tmp_path / "shards" / "*"))
    with pytest.raises(ValueError, match="matches no corpus file: expected .tar shards"):
        corpus_files(str(tmp_path / "table" / "images"))
    with pytest.raises(
        FileNotFoundError, match="`path_or_glob` names .*nowhere.tar', which does not exist"
    ):
        corpus_files(str(tmp_path / "nowhere.tar"))
    with pytest.raises(
        ValueError, match="`image_root` is for caption tables, but .* holds webdataset files"
    ):
        open_corpus(str(tmp_path / "shards"), preprocessor, 4, image_root=str(tmp_path))


@backend_independent
def test_webdataset_json_captions_and_table_image_root(tmp_path, preprocessor):
    images, captions = np.zeros((2, 6, 6, 3), np.uint8), ["a photo", "seven"]
    paths = write_webdataset(tmp_path / "json", images, captions, caption_format="json")
    with tarfile.open(paths[0]) as archive:
        assert archive.getnames() == [
            "000000000.jpg",
            "000000000.json",
            "000000001.jpg",
            "000000001.json",
        ]
    texts = preprocessor.tokenizer.detokenize(
        _read_all(webdataset_corpus(paths, preprocessor, 2))[1]
    )
    assert sorted(texts) == captions
    table = write_caption_table(
        tmp_path / "t", images, captions, image_column="file", caption_column="text"
    )
    moved = tmp_path / "elsewhere"
    os.rename(tmp_path / "t" / "images", moved.parent / "images_moved")
    os.makedirs(moved)
    os.rename(moved.parent / "images_moved", moved / "images")
    dataset = caption_table_corpus(
        table, preprocessor, 2, image_root=str(moved), image_column="file", caption_column="text"
    )
    assert sorted(preprocessor.tokenizer.detokenize(_read_all(dataset)[1])) == captions


@backend_independent
def test_bad_arguments_are_explained(tmp_path, preprocessor, monkeypatch):
    paths = write_webdataset(tmp_path, np.zeros((2, 6, 6, 3), np.uint8), ["a photo", "seven"])
    table = write_caption_table(
        tmp_path / "t", np.zeros((2, 6, 6, 3), np.uint8), ["a photo", "seven"]
    )
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer, got 0"):
        webdataset_corpus(paths, preprocessor, 0)
    with pytest.raises(
        TypeError, match="`preprocessor` must be a SigLIPPreprocessor, got SigLIPTokenizer"
    ):
        webdataset_corpus(paths, preprocessor.tokenizer, 2)
    with pytest.raises(ValueError, match=r"`shard` must be `\(index, count\)`.*got \(2, 2\)"):
        webdataset_corpus(paths, preprocessor, 2, shard=(2, 2))
    with pytest.raises(ValueError, match="`shuffle_buffer` must be a non-negative integer, got -1"):
        webdataset_corpus(paths, preprocessor, 2, shuffle_buffer=-1)
    with pytest.raises(
        ValueError, match=r"`files` .* matches no .tar file; found '00000.tar'|matches no .tfrecord"
    ):
        tfrecord_corpus(paths, preprocessor, 2)
    with pytest.raises(
        ValueError,
        match=r"`caption_column` 'text' is not a column of the table .*captions.csv'; "
        r"its columns are \['image', 'caption'\]",
    ):
        caption_table_corpus(table, preprocessor, 2, caption_column="text")
    with pytest.raises(ValueError, match="`image_root` must be a folder of images, got"):
        caption_table_corpus(table, preprocessor, 2, image_root=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"`images` has 2 images but `captions` has 1 captions"):
        write_webdataset(tmp_path, np.zeros((2, 6, 6, 3), np.uint8), ["a"])
    with pytest.raises(ValueError, match=r"Each image must be uint8.*got dtype float32"):
        write_tfrecord(tmp_path, np.zeros((1, 6, 6, 3), np.float32), ["a"])
    with pytest.raises(ValueError, match=r"`corpus_format` must be one of"):
        write_corpus(tmp_path, "zip", [], [])
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"pip install 'keras-siglip\[parquet\]'"):
        write_caption_table(
            tmp_path / "p", np.zeros((1, 6, 6, 3), np.uint8), ["a"], table_format="parquet"
        )


def _add(archive, name, contents):
    info = tarfile.TarInfo(name)
    info.size = len(contents)
    archive.addfile(info, io.BytesIO(contents))
