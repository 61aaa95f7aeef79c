"""Reading a checkpoint's safetensors files, one array at a time, with the `safetensors`
library: nothing is unpickled.

A model directory holds one `model.safetensors`, or shards listed in
`model.safetensors.index.json`. Arrays come back as NumPy arrays; bfloat16 ones are
widened to float32, exactly, so that every backend can take them.
"""

import contextlib
import json
import os

# Registers bfloat16 with NumPy: safetensors' NumPy reader returns bfloat16 arrays
# only once it is (ml_dtypes comes with jax and tensorflow).
import ml_dtypes
import numpy as np
from safetensors import SafetensorError, safe_open

from keras_siglip.files import file_inside

__all__ = [
    "PICKLED_WEIGHTS_FILES",
    "SAFETENSORS_FILE",
    "SAFETENSORS_INDEX_FILE",
    "SafetensorsCheckpoint",
    "weight_files",
]

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
PICKLED_WEIGHTS_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def weight_files(path):
    """The safetensors files of model directory `path`, after refusing pickled weights.

    Every file, the shards the index names included, must resolve inside `path`
    (`keras_siglip.files.file_inside`).

    Raises:
        FileNotFoundError: no safetensors weights, or shards the index lists are missing.
        ValueError: the weights are only pickled (`pytorch_model.bin`), the index
            has no `weight_map`, or a file resolves outside `path`.
    """
    single = file_inside(path, SAFETENSORS_FILE)
    if os.path.isfile(single):
        return [single]
    index_file = file_inside(path, SAFETENSORS_INDEX_FILE)
    if os.path.isfile(index_file):
        try:
            with open(index_file, encoding="utf-8") as file:
                index = json.load(file)
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"{index_file} is not valid JSON: {error}") from None
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise ValueError(
                f"{index_file} has no 'weight_map' (an object from tensor names to shard files)."
            )
        names = set(weight_map.values())
        if not all(isinstance(name, str) and name for name in names):
            raise ValueError(
                f"{index_file} maps tensors to {sorted(map(repr, names))}; every shard "
                "must be a file name (a non-empty string)."
            )
        files = [file_inside(path, name) for name in sorted(names)]
        absent = [file for file in files if not os.path.isfile(file)]
        if absent:
            raise FileNotFoundError(
                f"{index_file} lists shards that are missing: {', '.join(absent)}."
            )
        return files
    pickled = [name for name in PICKLED_WEIGHTS_FILES if os.path.isfile(file_inside(path, name))]
    if pickled:
        raise ValueError(
            f"The transformers model directory {path} has its weights only as "
            f"{pickled[0]}, a pickle, which keras_siglip does not load (unpickling runs "
            "code from the file). Convert it to safetensors with transformers, e.g. "
            "`SiglipModel.from_pretrained(directory).save_pretrained(new_directory)`, "
            "which writes model.safetensors."
        )
    raise FileNotFoundError(
        f"The transformers model directory {path} has no {SAFETENSORS_FILE} or "
        f"{SAFETENSORS_INDEX_FILE}."
    )


class SafetensorsCheckpoint:
    """The arrays of one or more safetensors files, read one at a time.

    The files' headers give every name and shape before any array is read; the
    files stay open (memory-mapped by `safetensors`) until the `with` block ends.

    Args:
        files: paths of safetensors files; a name in two of them is an error.

    Raises:
        ValueError: a file that is not a whole safetensors file (the message names
            it), or a tensor name in two files.

    Example:

    >>> import os, tempfile, ml_dtypes, numpy as np
    >>> from safetensors.numpy import save_file
    >>> file = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> save_file({"w": np.array([1.0, -2.5, 3.1], ml_dtypes.bfloat16)}, file)
    >>> with SafetensorsCheckpoint([file]) as checkpoint:
    ...     checkpoint.shapes, checkpoint.read("w")
    ({'w': (3,)}, array([ 1.     , -2.5    ,  3.09375], dtype=float32))
    """

    def __init__(self, files):
        self.files = list(files)
        self.shapes = {}
        self._handles = {}
        self._stack = contextlib.ExitStack()
        try:
            for file in self.files:
                handle = self._stack.enter_context(_open(file))
                for key in handle.keys():
                    if key in self._handles:
                        raise ValueError(
                            f"The tensor {key!r} is in both {self._handles[key][0]} and {file}."
                        )
                    self._handles[key] = (file, handle)
                    self.shapes[key] = tuple(int(d) for d in handle.get_slice(key).get_shape())
        except BaseException:
            self._stack.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self._stack.close()
        self._handles = {}

    def read(self, key):
        """The array `key` as a NumPy array (bfloat16 widened to float32)."""
        file, handle = self._handles[key]
        try:
            array = handle.get_tensor(key)
        except SafetensorError as error:
            raise ValueError(f"{file}: cannot read the tensor {key!r} ({error}).") from None
        if array.dtype == ml_dtypes.bfloat16:
            return array.astype(np.float32)
        return array


@contextlib.contextmanager
def _open(file):
    try:
        handle = safe_open(file, framework="numpy")
    except SafetensorError as error:
        raise ValueError(f"{file} is not a safetensors file ({error}).") from None
    with handle:
        yield handle
