"""The one place that resolves a file inside a model directory.

Every loader (keras_siglip presets, transformers, keras-hub and big_vision
checkpoints, their tokenizers and preprocessor files) opens its files through
`file_inside`: the path is resolved, symlinks and `..` included, and refused if it
lies outside the directory. A checkpoint cannot make a loader read a system file
through a `weight_map` entry, a symlinked shard or a linked tokenizer.

A download from the Hugging Face Hub is a snapshot folder whose files are links
into the `blobs/` folder of the same repository cache; `allow_links_within`
records, for such a downloaded directory only, the cache root its links may reach.
"""

import os

__all__ = ["allow_links_within", "file_inside"]

# Resolved directory -> resolved folder its files may resolve into (downloads only).
_LINK_ROOTS = {}


def allow_links_within(directory, root):
    """Let the files of `directory` resolve anywhere inside `root`.

    For downloaded directories: `keras_siglip.convert.hub.download` calls it with
    the repository's cache folder, the parent of `snapshots/`.

    Raises:
        ValueError: `directory` is not inside `root`.
    """
    directory, root = os.path.realpath(directory), os.path.realpath(root)
    if os.path.commonpath([root, directory]) != root:
        raise ValueError(f"The directory {directory} is not inside {root}.")
    _LINK_ROOTS[directory] = root


def file_inside(directory, name):
    """`directory/name`, refused if it resolves outside `directory`.

    Symlinks and `..` are resolved first. For a directory registered with
    `allow_links_within` (a download), the file may resolve anywhere inside the
    registered root instead. The file need not exist.

    Args:
        directory: the model or preset directory.
        name: a path relative to it (an absolute one is refused unless inside).

    Returns:
        The path `directory/name` (unresolved, for readable messages).

    Raises:
        ValueError: naming the file, where it resolves and the directory.

    Example:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> file_inside(folder, "config.json") == os.path.join(folder, "config.json")
    True
    >>> try:
    ...     file_inside(folder, "../outside.json")
    ... except ValueError as error:
    ...     print("refused:", "outside the directory" in str(error))
    refused: True
    """
    file = os.path.join(directory, name)
    resolved_directory = os.path.realpath(directory)
    root = _LINK_ROOTS.get(resolved_directory, resolved_directory)
    resolved = os.path.realpath(file)
    if os.path.commonpath([root, resolved]) != root:
        raise ValueError(
            f"{file} resolves to {resolved}, outside the directory {resolved_directory}; "
            "a model's files must lie inside its directory (refused: a link or a '..' "
            "path could make the loader read any file)."
        )
    return file
