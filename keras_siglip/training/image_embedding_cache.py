"""Image embeddings computed once by a frozen image tower, for SigLiT training."""

import numpy as np
from keras import ops

from keras_siglip.evaluation.embedding import embed_in_batches
from keras_siglip.training import backend_autodiff
from keras_siglip.validation import check_positive_int


def cache_image_embeddings(model, images, batch_size=256):
    """L2-normalised embeddings of a dataset's images, a batch at a time.

    With the image tower frozen (SigLiT), its embeddings do not change during
    training: computing them once turns every later step into text-tower work only
    (see `GradientCachedSigLiT`). The tower runs in inference mode, without
    autodiff.

    Args:
        model: a `SigLIP` model (its `image_encoder` is used) or an image tower
            alone (an `ImageEncoder`, or any Keras model mapping images to
            `(batch, dim)`).
        images: channels-last images scaled to [-1, 1], either one array
            `(num_images, height, width, 3)` (a NumPy memory map works), embedded
            `batch_size` at a time, or an iterable of such arrays, one batch each
            (for example `dataset.as_numpy_iterator()` of a batched `tf.data`
            dataset), embedded as they come.
        batch_size: images per call of the tower, for an array.

    Returns:
        `(num_images, dim)` float32 NumPy array, in the images' order; save it with
        `np.save` and read it back with `np.load(path, mmap_mode="r")`.

    Example:

    >>> import numpy as np
    >>> from keras_siglip import ImageEncoder
    >>> image_encoder = ImageEncoder(image_size=16, patch_size=8, hidden_dim=16,
    ...                              num_layers=1, num_heads=2, intermediate_dim=32)
    >>> images = np.zeros((10, 16, 16, 3), "float32")
    >>> embeddings = cache_image_embeddings(image_encoder, images, batch_size=4)
    >>> embeddings.shape
    (10, 16)
    >>> np.allclose(np.linalg.norm(embeddings, axis=1), 1.0)
    True
    """
    check_positive_int("batch_size", batch_size)
    tower = getattr(model, "image_encoder", model)
    encode = backend_autodiff.encode_function(tower, training=False)
    if hasattr(images, "shape"):
        return embed_in_batches(encode, images, batch_size)
    parts = [ops.convert_to_numpy(encode(np.asarray(batch))) for batch in images]
    if not parts:
        raise ValueError("`images` must hold at least one batch of images; got none.")
    return np.concatenate(parts).astype("float32")
