"""Write the embedded dataset as a corpus on disk (what `keras-siglip export-corpus` does)."""

from keras_siglip.data.emoji import HELD_OUT_SPLITS, load_emoji
from keras_siglip.data.writers import write_corpus

__all__ = ["CORPUS_FORMATS", "EXPORT_SPLITS", "export_embedded_corpus"]

# The splits `export_embedded_corpus` writes.
EXPORT_SPLITS = {
    "train": lambda data: (data.train, data.digits_train),
    "test": lambda data: (data.test, data.digits_test),
}
CORPUS_FORMATS = ("webdataset", "tfrecord", "csv", "tsv", "parquet")


def export_embedded_corpus(
    output_dir,
    corpus_format="webdataset",
    split="train",
    captions="name",
    image_size=64,
    image_format="jpeg",
    samples_per_shard=1000,
    held_out=300,
    seed=0,
    held_out_split="known-words",
):
    """Write a split of the embedded dataset (emoji and digits) in a corpus format.

    Args:
        output_dir: the folder to write.
        corpus_format: one of `CORPUS_FORMATS`.
        split: `"train"` (what `keras-siglip train` trains on) or `"test"` (held out).
        captions: `"name"`, one sample per image with its name, or `"all"`, one per
            caption the image has (aliases, digit templates).
        image_size: side of the drawn images in pixels.
        image_format: `"jpeg"`, `"png"` or `"webp"`.
        samples_per_shard: samples per tar or TFRecord file.
        held_out, seed, held_out_split: the split, as `load_emoji` draws it.

    Returns:
        `(paths, num_pairs)`: the files written and the number of image-caption pairs.
    """
    if split not in EXPORT_SPLITS:
        raise ValueError(f"`split` must be one of {sorted(EXPORT_SPLITS)}, got {split!r}.")
    if captions not in ("name", "all"):
        raise ValueError(f"`captions` must be 'name' or 'all', got {captions!r}.")
    if held_out_split not in HELD_OUT_SPLITS:
        raise ValueError(
            f"`held_out_split` must be one of {HELD_OUT_SPLITS}, got {held_out_split!r}."
        )
    data = load_emoji(
        seed=seed, num_held_out=held_out, render_size=image_size, held_out_split=held_out_split
    )
    images, texts = [], []
    for part in EXPORT_SPLITS[split](data):
        for image, choices in zip(part.images, part.caption_choices):
            for caption in choices if captions == "all" else choices[:1]:
                images.append(image)
                texts.append(caption)
    options = {"image_format": image_format}
    if corpus_format in ("webdataset", "tfrecord"):
        key = "samples_per_shard" if corpus_format == "webdataset" else "samples_per_file"
        options[key] = samples_per_shard
    paths = write_corpus(output_dir, corpus_format, images, texts, **options)
    return paths, len(texts)
