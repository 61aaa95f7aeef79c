"""Inference from raw files: embed images and texts, classify images, search a folder.

The functions here take a preset (or an `Embedder` already built), file paths,
folders, PIL images or arrays, and return plain Python and NumPy values, so that
the `keras-siglip classify | embed | search` commands and a notebook call the
same code.

Progress: the long-running functions take `progress`, a callable
`progress(done, total)` called after each batch with the number of items
embedded so far and in all.
"""

import hashlib
import os

import numpy as np
from keras import ops

from keras_siglip.evaluation.embedding import compiled_encoder, embed_in_batches
from keras_siglip.evaluation.zero_shot import DEFAULT_TEMPLATES, ZeroShotClassifier
from keras_siglip.model import SigLIP
from keras_siglip.preprocessing import SigLIPPreprocessor, load_images
from keras_siglip.validation import check_positive_int

# Pillow reads these; a folder expands to the files with these extensions.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
DEFAULT_BATCH_SIZE = 16
INDEX_SUFFIX = ".keras-siglip-index.npz"
INDEX_FORMAT = 1

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "Embedder",
    "ImageIndex",
    "classify",
    "embed",
    "expand_images",
    "save_embeddings",
    "search",
]


class Embedder:
    """L2-normalised embeddings of raw images and texts, with a model and its preprocessing.

    Images may be file paths (`str` or `pathlib.Path`), folders (their images,
    sorted), PIL images, uint8 arrays in `[0, 255]` or float arrays in the
    model's `[-1, 1]`, of any size, one or a list mixing them; they are
    squash-resized as SigLIP's preprocessing does (antialiased bicubic). Each
    tower runs compiled on batches of exactly `batch_size` (the last one padded):
    any number of inputs compiles each tower once.

    Args:
        model: a `SigLIP`.
        preprocessor: the `SigLIPPreprocessor` that goes with it (its tokenizer
            makes the token ids).
        batch_size: inputs per call of a tower. Larger is faster per image on an
            accelerator; a call with fewer inputs still pays for a full batch.

    Example:

    >>> import numpy as np
    >>> from keras_siglip.preprocessing import SigLIPTokenizer, train_sentencepiece
    >>> tokenizer = SigLIPTokenizer(
    ...     train_sentencepiece(["a red circle", "a blue square"] * 5, 16), sequence_length=8)
    >>> model = SigLIP.from_variant("Pico/8", image_size=16, sequence_length=8,
    ...                             vocabulary_size=tokenizer.vocabulary_size)
    >>> embedder = Embedder(model, SigLIPPreprocessor(tokenizer, image_size=16), batch_size=4)
    >>> images = embedder.embed_images(np.zeros((30, 40, 3), "uint8"))
    >>> texts = embedder.embed_texts(["a red circle", "a blue square"])
    >>> images.shape, texts.shape, embedder.logits(images, texts).shape
    ((1, 64), (2, 64), (1, 2))
    """

    def __init__(self, model, preprocessor, batch_size=DEFAULT_BATCH_SIZE):
        if not isinstance(preprocessor, SigLIPPreprocessor):
            raise ValueError(
                "`preprocessor` must be a SigLIPPreprocessor (e.g. "
                f"`SigLIPPreprocessor.from_preset(preset)`); got {type(preprocessor).__name__}."
            )
        check_positive_int("batch_size", batch_size)
        if preprocessor.sequence_length != model.sequence_length:
            raise ValueError(
                f"The preprocessor pads texts to {preprocessor.sequence_length} tokens but the "
                f"model's text tower takes {model.sequence_length}; use the preprocessor of "
                "the model's preset."
            )
        self.model = model
        self.preprocessor = preprocessor
        self.batch_size = batch_size
        self._encode_images = compiled_encoder(model.image_encoder)
        self._encode_texts = compiled_encoder(model.text_encoder)

    @classmethod
    def from_preset(cls, preset, batch_size=DEFAULT_BATCH_SIZE, **kwargs):
        """The model and preprocessing of `preset` (see `SigLIP.from_preset`).

        Args:
            preset: a builtin preset with weights, a preset directory, a
                transformers or keras-hub SigLIP directory, or a hub id.
            batch_size: inputs per call of a tower.
            **kwargs: passed to `SigLIP.from_preset` (e.g. `dtype`).
        """
        model = SigLIP.from_preset(preset, **kwargs)
        return cls(model, SigLIPPreprocessor.from_preset(preset), batch_size=batch_size)

    @property
    def image_size(self):
        return self.model.image_size

    @property
    def temperature(self):
        return float(np.exp(_scalar(self.model.log_temperature)))

    @property
    def bias(self):
        return _scalar(self.model.bias)

    def embed_images(self, images, batch_size=None, progress=None):
        """`(num_images, dim)` float32 unit-length embeddings, in input order.

        Args:
            images: see the class docstring; a folder gives its images, sorted
                (`expand_images`).
            batch_size: the embedder's by default.
            progress: `progress(done, total)` after each batch, or `None`.
        """
        batch_size = batch_size or self.batch_size
        check_positive_int("batch_size", batch_size)
        images = expand_images(images)
        total = len(images)
        if not total:
            raise ValueError("`images` must hold at least one image; got none.")
        parts = []
        for start in range(0, total, batch_size):
            batch = load_images(images[start : start + batch_size], self.image_size)
            parts.append(embed_in_batches(self._encode_images, batch, batch_size, True))
            if progress is not None:
                progress(min(start + batch_size, total), total)
        return np.concatenate(parts)

    def embed_texts(self, texts, batch_size=None, progress=None):
        """`(num_texts, dim)` float32 unit-length embeddings of a string or a list."""
        batch_size = batch_size or self.batch_size
        check_positive_int("batch_size", batch_size)
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            raise ValueError("`texts` must hold at least one text; got none.")
        token_ids = self.preprocessor.tokenizer(texts)
        parts = []
        for start in range(0, len(texts), batch_size):
            batch = token_ids[start : start + batch_size]
            parts.append(embed_in_batches(self._encode_texts, batch, batch_size, True))
            if progress is not None:
                progress(min(start + batch_size, len(texts)), len(texts))
        return np.concatenate(parts)

    def logits(self, image_embeddings, text_embeddings):
        """`(num_images, num_texts)` float32 logits of embeddings from this embedder:
        `exp(log_temperature) * cosine + bias`, as `SigLIP.call` scores a pair."""
        similarity = np.asarray(image_embeddings) @ np.asarray(text_embeddings).T
        return (self.temperature * similarity + self.bias).astype("float32")

    def fingerprint(self):
        """A short hash of the image tower's configuration and some of its weights:
        cached image embeddings are reused only with the model that made them."""
        digest = hashlib.sha256(repr((self.image_size, self.model.embedding_dim)).encode())
        variables = self.model.image_encoder.weights
        for variable in variables:
            digest.update(repr((variable.path, tuple(variable.shape))).encode())
        for variable in (*variables[:3], *variables[-3:]):
            digest.update(np.ascontiguousarray(_numpy(variable)).tobytes())
        return digest.hexdigest()[:32]


def expand_images(images):
    """`images` as a list (or a batch array), folders replaced by their images.

    A folder gives the files with an extension from `IMAGE_EXTENSIONS` below it
    (hidden files and folders skipped), sorted by path. An array of rank 4 is a
    batch and stays one; anything else that is not a list is one image.

    Example:

    >>> import numpy as np
    >>> len(expand_images(np.zeros((3, 8, 8, 3), "uint8"))), len(expand_images("a.png"))
    (3, 1)
    """
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    elif hasattr(images, "shape") and len(images.shape) == 4:
        return images
    elif not isinstance(images, (list, tuple)):
        images = [images]
    expanded = []
    for image in images:
        if isinstance(image, (str, os.PathLike)) and os.path.isdir(image):
            expanded.extend(_images_in_folder(os.fspath(image)))
        else:
            expanded.append(image)
    return expanded


def _images_in_folder(folder):
    paths = []
    for root, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(os.path.join(root, name))
    return sorted(paths)


def _embedder(preset_or_embedder, batch_size):
    if isinstance(preset_or_embedder, Embedder):
        return preset_or_embedder
    if isinstance(preset_or_embedder, (str, os.PathLike)):
        return Embedder.from_preset(preset_or_embedder, batch_size=batch_size)
    raise ValueError(
        "`preset` must be a preset (a name, a directory or a hub id) or an `Embedder`; got "
        f"{type(preset_or_embedder).__name__}."
    )


def _image_names(images):
    """What to call each image in results: its path, or its position."""
    return [
        os.fspath(image) if isinstance(image, (str, os.PathLike)) else index
        for index, image in enumerate(images)
    ]


def classify(
    preset,
    labels,
    images,
    templates=None,
    batch_size=DEFAULT_BATCH_SIZE,
    progress=None,
):
    """Zero-shot probabilities of each label for each image.

    Args:
        preset: a preset (name, directory, hub id) or an `Embedder`.
        labels: the class names, e.g. `["cat", "dog"]`.
        images: paths, folders, PIL images or arrays (see `Embedder`).
        templates: prompts containing `{}`; `DEFAULT_TEMPLATES` by default
            (their embeddings averaged per label).
        batch_size: images per call of the image tower.
        progress: `progress(done, total)` after each batch of images.

    Returns:
        A list with one dict per image, in input order (folders expanded):
        `{"image": path (or position, for arrays), "scores": {label:
        probability}}`, the probabilities of `ZeroShotClassifier.predict_proba`
        (each pair's sigmoid: they do not sum to one).
    """
    embedder = _embedder(preset, batch_size)
    classifier = ZeroShotClassifier(
        embedder.model,
        labels,
        DEFAULT_TEMPLATES if templates is None else templates,
        tokenizer=embedder.preprocessor.tokenizer,
        batch_size=embedder.batch_size,
        image_encoder=embedder._encode_images,
        fixed_batch_size=True,
    )
    images = expand_images(images)
    if not len(images):
        raise ValueError("`images` must hold at least one image; got none.")
    results = []
    names = _image_names(images)
    chunk = 16 * embedder.batch_size
    for start in range(0, len(images), chunk):
        probabilities = classifier.predict_proba(images[start : start + chunk])
        for name, row in zip(names[start : start + chunk], probabilities):
            scores = {label: float(value) for label, value in zip(classifier.class_names, row)}
            results.append({"image": name, "scores": scores})
        if progress is not None:
            progress(len(results), len(images))
    return results


def embed(preset, images=None, texts=None, batch_size=DEFAULT_BATCH_SIZE, progress=None):
    """L2-normalised float32 embeddings of images or of texts, one row per input.

    Args:
        preset: a preset (name, directory, hub id) or an `Embedder`.
        images: paths, folders (their images, sorted), PIL images or arrays.
        texts: a string or a list of strings. Give `images` or `texts`, not both.
        batch_size: inputs per call of a tower.
        progress: `progress(done, total)` after each batch.

    Returns:
        `(num_inputs, dim)` float32 NumPy array.
    """
    if (images is None) == (texts is None):
        raise ValueError("Give `images` or `texts` (exactly one of them).")
    embedder = _embedder(preset, batch_size)
    if images is not None:
        return embedder.embed_images(images, progress=progress)
    return embedder.embed_texts(texts, progress=progress)


def save_embeddings(path, embeddings):
    """Write `embeddings` as float32 to the `.npy` file `path`, atomically.

    The array goes to a temporary sibling first and is renamed into place, so an
    interrupted write never leaves a truncated file where an older one stood.

    Args:
        path: the file to write (its folder must exist); written as given, with
            no `.npy` appended.
        embeddings: a 2-D array.

    Returns:
        The path written, as a string.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(
            f"`path` must be a file in an existing folder; {folder!r} does not exist "
            f"(for {path!r})."
        )
    if os.path.isdir(path):
        raise ValueError(f"`path` must name a file; {path!r} is a folder.")
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        with open(temporary, "wb") as file:
            np.save(file, np.asarray(embeddings, np.float32), allow_pickle=False)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


class ImageIndex:
    """The embeddings of a folder's images, cached in a `.npz` file and kept fresh.

    The cache records each image's path (relative to the folder), size and
    modification time, and the model's `Embedder.fingerprint()`; `refresh()`
    embeds only the images added or changed since, drops the removed ones and
    rewrites the file (through a temporary sibling, renamed into place). The file
    holds plain arrays and is read with `allow_pickle=False`.

    Args:
        folder: the folder of images (searched recursively; see `expand_images`).
        embedder: the `Embedder` whose image embeddings are cached.
        index_path: the cache file; by default beside the folder,
            `FOLDER.keras-siglip-index.npz`.
    """

    def __init__(self, folder, embedder, index_path=None):
        folder = os.fspath(folder)
        if not os.path.isdir(folder):
            raise ValueError(f"`folder` must be an existing folder of images; got {folder!r}.")
        if not isinstance(embedder, Embedder):
            raise ValueError(f"`embedder` must be an Embedder; got {type(embedder).__name__}.")
        self.folder = folder
        self.embedder = embedder
        if index_path is None:
            index_path = os.path.normpath(os.path.abspath(folder)) + INDEX_SUFFIX
        self.index_path = os.fspath(index_path)
        self.paths = []
        self.embeddings = np.zeros((0, embedder.model.embedding_dim), np.float32)

    def refresh(self, progress=None):
        """Bring the cache up to date with the folder; returns what changed.

        Args:
            progress: `progress(done, total)` over the images being embedded.

        Returns:
            `{"added": n, "changed": n, "removed": n, "unchanged": n}` (image counts).
        """
        files = _images_in_folder(self.folder)
        relative = [os.path.relpath(path, self.folder) for path in files]
        stats = [os.stat(path) for path in files]
        sizes = np.array([stat.st_size for stat in stats], np.int64)
        mtimes = np.array([stat.st_mtime_ns for stat in stats], np.int64)
        fingerprint = self.embedder.fingerprint()
        cached = self._read_cache(fingerprint)
        dim = self.embedder.model.embedding_dim
        embeddings = np.zeros((len(files), dim), np.float32)
        stale = []
        counts = {"added": 0, "changed": 0, "removed": 0, "unchanged": 0}
        for position, (name, size, mtime) in enumerate(zip(relative, sizes, mtimes)):
            entry = cached.get(name)
            if entry is None:
                counts["added"] += 1
                stale.append(position)
            elif entry[0] != size or entry[1] != mtime:
                counts["changed"] += 1
                stale.append(position)
            else:
                counts["unchanged"] += 1
                embeddings[position] = entry[2]
        counts["removed"] = len(set(cached) - set(relative))
        if stale:
            embeddings[stale] = self.embedder.embed_images(
                [files[position] for position in stale], progress=progress
            )
        if stale or counts["removed"] or not os.path.isfile(self.index_path):
            self._write_cache(relative, sizes, mtimes, embeddings, fingerprint)
        self.paths = files
        self.embeddings = embeddings
        return counts

    def search(self, query, top_k=5):
        """The `top_k` images that score best for the text `query`, best first.

        Refresh first (`refresh()`); `search` uses the embeddings it has.

        Returns:
            A list of `{"image": path, "score": probability}`, the score being the
            model's sigmoid probability that the image and the query match.
        """
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"`query` must be a non-empty string; got {query!r}.")
        check_positive_int("top_k", top_k)
        if not self.paths:
            return []
        text = self.embedder.embed_texts([query])
        logits = self.embedder.logits(self.embeddings, text)[:, 0]
        order = np.argsort(-logits, kind="stable")[:top_k]
        scores = 0.5 + 0.5 * np.tanh(0.5 * logits[order].astype(np.float64))
        return [
            {"image": self.paths[index], "score": float(score)}
            for index, score in zip(order, scores)
        ]

    def _read_cache(self, fingerprint):
        """`{relative path: (size, mtime, embedding)}` from the cache file, or `{}`
        when it is missing, unreadable or from another model."""
        if not os.path.isfile(self.index_path):
            return {}
        try:
            with np.load(self.index_path, allow_pickle=False) as cache:
                if int(cache["format"]) != INDEX_FORMAT or str(cache["fingerprint"]) != fingerprint:
                    return {}
                return {
                    str(name): (int(size), int(mtime), embedding)
                    for name, size, mtime, embedding in zip(
                        cache["paths"],
                        cache["sizes"],
                        cache["mtimes"],
                        cache["embeddings"],
                    )
                }
        except (OSError, ValueError, KeyError):
            return {}  # A damaged cache is rebuilt, never trusted.

    def _write_cache(self, relative, sizes, mtimes, embeddings, fingerprint):
        temporary = f"{self.index_path}.tmp-{os.getpid()}"
        try:
            with open(temporary, "wb") as file:
                np.savez(
                    file,
                    format=np.int64(INDEX_FORMAT),
                    fingerprint=np.str_(fingerprint),
                    paths=np.array(relative, dtype=np.str_).reshape(len(relative)),
                    sizes=sizes,
                    mtimes=mtimes,
                    embeddings=embeddings,
                )
            os.replace(temporary, self.index_path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)


def search(
    preset,
    folder,
    query,
    top_k=5,
    index_path=None,
    batch_size=DEFAULT_BATCH_SIZE,
    progress=None,
):
    """The images of `folder` that score best for `query`, best first.

    The folder's image embeddings are cached (see `ImageIndex`) and refreshed
    when files are added, removed or changed.

    Args:
        preset: a preset (name, directory, hub id) or an `Embedder`.
        folder: the folder of images.
        query: the text to search for.
        top_k: how many results.
        index_path: the cache file; beside the folder by default.
        batch_size: images per call of the image tower.
        progress: `progress(done, total)` while new images are embedded.

    Returns:
        A list of `{"image": path, "score": probability}`, at most `top_k`.
    """
    index = ImageIndex(folder, _embedder(preset, batch_size), index_path)
    index.refresh(progress=progress)
    return index.search(query, top_k)


def _numpy(variable):
    return ops.convert_to_numpy(variable)


def _scalar(value):
    return float(np.asarray(_numpy(value)))
