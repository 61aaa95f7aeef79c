"""Validation on a user's held-out pairs: image-text retrieval recall@1 and @5."""

import numpy as np

from keras_siglip.evaluation.embedding import compiled_encoder
from keras_siglip.evaluation.retrieval import retrieval_metrics

__all__ = ["held_out_retrieval_metrics", "preprocessed_batches"]

VALIDATION_PREFIX = "validation_"


def held_out_retrieval_metrics(model, batches, prefix=VALIDATION_PREFIX, ks=(1, 5)):
    """Recall@k both ways among held-out pairs, each pair's image and text matched.

    Every image is a query among all held-out texts (i2t) and every text among all
    held-out images (t2i): with N pairs, chance is k / N.

    Args:
        model: a `SigLIP` (its `image_encoder` and `text_encoder` are used).
        batches: an iterable of `{"images", "token_ids"}` batches, model-ready: the
            corpus reader's validation batches (one pass, no repeat), or
            `preprocessed_batches(images, captions, preprocessor)`.
        prefix: put before every key.
        ks: the `k` of each recall@k.

    Returns:
        `{prefix + "samples": N, prefix + "i2t_recall@1": ..., prefix +
        "t2i_recall@1": ..., ...@5}` (the recall values as floats in [0, 1]).
    """
    encode_images = compiled_encoder(model.image_encoder)
    encode_texts = compiled_encoder(model.text_encoder)
    image_embeddings, text_embeddings = [], []
    for batch in batches:
        if isinstance(batch, tuple):  # the `(batch,)` form `fit` takes
            (batch,) = batch
        image_embeddings.append(encode_images(np.asarray(batch["images"])))
        text_embeddings.append(encode_texts(np.asarray(batch["token_ids"])))
    if not image_embeddings:
        raise ValueError("`batches` holds no pairs: there is nothing to validate on.")
    image_embeddings = np.concatenate(image_embeddings)
    text_embeddings = np.concatenate(text_embeddings)
    metrics = retrieval_metrics(image_embeddings, text_embeddings, ks=ks)
    recalls = {key: value for key, value in metrics.items() if "recall@" in key}
    return {
        f"{prefix}samples": len(image_embeddings),
        **{f"{prefix}{key}": float(value) for key, value in recalls.items()},
    }


def preprocessed_batches(images, captions, preprocessor, batch_size=256):
    """Model-ready batches of in-memory pairs: `preprocessor` applied `batch_size` at a time.

    Args:
        images: an array `(N, height, width, 3)` or a list of images.
        captions: `N` strings.
        preprocessor: the model's `SigLIPPreprocessor`.
        batch_size: pairs per batch.
    """
    if len(images) != len(captions):
        raise ValueError(
            f"`images` has {len(images)} images but `captions` has {len(captions)} captions."
        )
    for start in range(0, len(captions), batch_size):
        yield preprocessor(
            {
                "images": images[start : start + batch_size],
                "texts": list(captions[start : start + batch_size]),
            }
        )
