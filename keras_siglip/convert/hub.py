"""Downloads from the Hugging Face Hub and Kaggle: the one downloader that the
converters and the presets use.

`hf://owner/name[@revision]` goes through `huggingface_hub.snapshot_download`,
`kaggle://owner/model/framework/variation[/version]` through
`kagglehub.model_download`; both keep their own caches, so a second call downloads
nothing.
"""

import os

from keras_siglip.files import allow_links_within

__all__ = ["HF_PREFIX", "KAGGLE_PREFIX", "REMOTE_SCHEMES", "download", "split_hf_handle"]

HF_PREFIX = "hf://"
KAGGLE_PREFIX = "kaggle://"
REMOTE_SCHEMES = (HF_PREFIX, KAGGLE_PREFIX)


def split_hf_handle(handle):
    """`(repo_id, revision or None)` of an `hf://owner/name[@revision]` handle.

    Raises:
        ValueError: `handle` is not of that form.

    Example:

    >>> split_hf_handle("hf://google/siglip-base-patch16-224@main")
    ('google/siglip-base-patch16-224', 'main')
    """
    if not isinstance(handle, str) or not handle.startswith(HF_PREFIX):
        raise ValueError(
            f"`handle` must look like '{HF_PREFIX}owner/name' (a Hugging Face Hub model), "
            f"got {handle!r}."
        )
    repo_id, at, revision = handle[len(HF_PREFIX) :].partition("@")
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or (at and not revision):
        raise ValueError(
            f"`handle` must look like '{HF_PREFIX}owner/name' or "
            f"'{HF_PREFIX}owner/name@revision', got {handle!r}."
        )
    return repo_id, revision or None


def download(handle, allow_patterns=None):
    """The local directory holding remote `handle`, downloaded or from the cache.

    Args:
        handle: `"hf://owner/name"`, `"hf://owner/name@revision"` (a branch, tag or
            commit) or `"kaggle://owner/model/framework/variation[/version]"`.
        allow_patterns: for `hf://`, the glob patterns of the files to fetch
            (default: all); pass them so that pickles and other frameworks' weights
            are never downloaded. Kaggle downloads a whole model version.

    Returns:
        The local directory (str).

    Raises:
        ValueError: `handle` is neither form.
        ImportError: `huggingface_hub` (or `kagglehub`) is not installed.
        OSError: the download failed; the message names the handle.
    """
    if isinstance(handle, str) and handle.startswith(KAGGLE_PREFIX):
        try:
            import kagglehub
        except ImportError:
            raise ImportError(
                f"Downloading {handle} needs the `kagglehub` package: `pip install kagglehub`, "
                "or pass a local directory."
            ) from None
        try:
            return kagglehub.model_download(handle[len(KAGGLE_PREFIX) :])
        except Exception as error:
            raise OSError(
                f"Could not download {handle} from Kaggle: {error}{offline_advice(handle)}"
            ) from error
    if not isinstance(handle, str) or not handle.startswith(HF_PREFIX):
        raise ValueError(
            f"`handle` must be a remote handle, '{HF_PREFIX}owner/name' or "
            f"'{KAGGLE_PREFIX}owner/model/framework/variation', got {handle!r}."
        )
    repo_id, revision = split_hf_handle(handle)
    try:
        import huggingface_hub
    except ImportError:
        raise ImportError(
            f"Downloading {handle} needs the `huggingface_hub` package: "
            "`pip install huggingface_hub`, or pass a local directory."
        ) from None
    try:
        directory = huggingface_hub.snapshot_download(
            repo_id=repo_id,
            revision=revision,
            allow_patterns=None if allow_patterns is None else list(allow_patterns),
        )
    except Exception as error:
        raise OSError(
            f"Could not download {handle} from the Hugging Face Hub: {error}"
            f"{offline_advice(handle)}"
        ) from error
    allow_links_within(directory, repository_cache(directory))
    return directory


def repository_cache(directory):
    """The Hub cache folder of the repository whose snapshot is `directory`.

    A snapshot `.../models--owner--name/snapshots/REVISION/` holds links to
    `../../blobs/HASH`: its files may resolve anywhere in `models--owner--name/`,
    the parent of `snapshots/`, and nowhere else. A directory outside that layout is
    its own root.
    """
    resolved = os.path.realpath(directory)
    parent = os.path.dirname(resolved)
    if os.path.basename(parent) == "snapshots":
        return os.path.dirname(parent)
    return resolved


def offline_advice(handle):
    """What to do when `handle` cannot be downloaded here (appended to download errors)."""
    return (
        ". Without network access: if the files were downloaded before, set "
        "HF_HUB_OFFLINE=1 to use the local cache; otherwise run "
        f"`keras-siglip convert {handle} DIRECTORY` on a machine with access, copy "
        "DIRECTORY here and load it with `from_preset('DIRECTORY')`."
    )
