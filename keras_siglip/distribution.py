"""Data and model parallelism for SigLIP with `keras.distribution` (JAX backend).

- `data_parallel()`: every device holds the whole model and a slice of the batch.
- `model_parallel(mesh_shape=(batch, model))`: a `("batch", "model")` mesh; the
  batch is split over `"batch"`, and the towers' large kernels over `"model"`
  (`model_parallel_layout_map`).

Under either, `SigLIP.fit` computes the paper's ring sigmoid loss across the
devices of the batch axis (`keras_siglip.losses.ring`) with no user code.

Build the model inside `distribution.scope()` (or after
`keras.distribution.set_distribution`): variables are placed when they are
created. `SigLIP.compile` calls `check_model_distribution`, which raises if a
layout rule matches no variable (the model would silently stay replicated and
run out of memory) or if the variables are not laid out as the distribution says
(a model built outside the scope).

Several hosts (a TPU pod slice, several GPU machines): every process calls
`keras.distribution.initialize(job_addresses="host0:port", num_processes=N,
process_id=i)` before any other JAX call; then the mesh spans the devices of all
processes. Each process feeds its own share of each global batch
(`data_parallel(auto_shard_dataset=False)`), or Keras shards one `tf.data`
pipeline across the processes (the default). `tests/multihost_checks.py` runs two
local processes of 4 CPU devices each.

Example:

>>> import keras
>>> from keras_siglip import SigLIP
>>> distribution = data_parallel()
>>> with distribution.scope():
...     model = SigLIP.from_variant("Pico/8", image_size=32, sequence_length=8,
...                                 vocabulary_size=100)
...     model.compile()
"""

import re

import keras
import numpy as np

__all__ = [
    "check_layout_map",
    "check_model_distribution",
    "data_parallel",
    "model_parallel",
    "model_parallel_layout_map",
]

BATCH_AXIS = "batch"
MODEL_AXIS = "model"


def data_parallel(devices=None, auto_shard_dataset=True):
    """A `keras.distribution.DataParallel` over `devices` (default: all of them).

    Args:
        devices: device names such as `"cpu:0"`, or `None` for
            `keras.distribution.list_devices()`.
        auto_shard_dataset: let Keras shard a `tf.data` dataset across processes;
            `False` when each process feeds its own share of the data.
    """
    return keras.distribution.DataParallel(devices=devices, auto_shard_dataset=auto_shard_dataset)


def model_parallel_layout_map(device_mesh, model_axis=MODEL_AXIS, embedding_sharding="vocabulary"):
    """A `LayoutMap` sharding both towers' large kernels over `model_axis`.

    Megatron-style, so each block needs one reduction: the attention query, key
    and value kernels (and biases) and the MLP expansion are split on their output
    features, the attention output projection and the MLP contraction on their
    input features. The token embedding is split on the vocabulary (a 250k i18n
    vocabulary is the largest single weight of the text tower) or, with
    `embedding_sharding="hidden"`, on the features. Everything else (norms,
    position embeddings, the patch embedding, the heads) is small and replicated.

    The rules are regular expressions matched against whole `variable.path`s
    (`encoder_block_0/attention/query/kernel`, `pooling/mlp/expand/kernel`,
    `token_embedding/embeddings`, ...); `check_layout_map` checks each matches.

    Args:
        device_mesh: a `keras.distribution.DeviceMesh` with an axis `model_axis`.
        model_axis: the mesh axis the kernels are split over.
        embedding_sharding: `"vocabulary"` or `"hidden"`.

    Returns:
        A `keras.distribution.LayoutMap`.
    """
    if model_axis not in device_mesh.axis_names:
        raise ValueError(
            f"`model_axis` {model_axis!r} is not an axis of the device mesh, whose axes "
            f"are {list(device_mesh.axis_names)}."
        )
    embeddings = {"vocabulary": (model_axis, None), "hidden": (None, model_axis)}
    if embedding_sharding not in embeddings:
        raise ValueError(
            f"`embedding_sharding` must be one of {sorted(embeddings)}; got {embedding_sharding!r}."
        )
    layout_map = keras.distribution.LayoutMap(device_mesh)
    layout_map[r".*attention/(query|key|value)/kernel"] = (None, model_axis)
    layout_map[r".*attention/(query|key|value)/bias"] = (model_axis,)
    layout_map[r".*attention/output/kernel"] = (model_axis, None)
    layout_map[r".*mlp/expand/kernel"] = (None, model_axis)
    layout_map[r".*mlp/expand/bias"] = (model_axis,)
    layout_map[r".*mlp/contract/kernel"] = (model_axis, None)
    layout_map[r"(.*/)?token_embedding/embeddings"] = embeddings[embedding_sharding]
    return layout_map


def model_parallel(
    mesh_shape,
    devices=None,
    layout_map=None,
    batch_axis=BATCH_AXIS,
    model_axis=MODEL_AXIS,
    auto_shard_dataset=True,
):
    """A `keras.distribution.ModelParallel` on a `(batch, model)` device mesh.

    Args:
        mesh_shape: `(batch, model)`: data-parallel replicas times the devices
            each replica's kernels are split over; their product is the number
            of devices.
        devices: device names, or `None` for all.
        layout_map: a `LayoutMap` for the mesh, or `None` for
            `model_parallel_layout_map(mesh, model_axis)`. A function
            `device_mesh -> LayoutMap` is also accepted.
        batch_axis: name of the mesh axis the batch is split over.
        model_axis: name of the mesh axis the kernels are split over.
        auto_shard_dataset: see `data_parallel`.

    Example:

    >>> import keras
    >>> one_device = keras.distribution.list_devices()[:1]
    >>> distribution = model_parallel(mesh_shape=(1, 1), devices=one_device)
    >>> distribution.device_mesh.axis_names
    ['batch', 'model']
    """
    devices = keras.distribution.list_devices() if devices is None else list(devices)
    mesh_shape = tuple(int(size) for size in mesh_shape)
    if len(mesh_shape) != 2 or int(np.prod(mesh_shape)) != len(devices):
        raise ValueError(
            f"`mesh_shape` must be (batch, model) with a product equal to the number of "
            f"devices, {len(devices)}; got {mesh_shape}."
        )
    device_mesh = keras.distribution.DeviceMesh(
        shape=mesh_shape, axis_names=[batch_axis, model_axis], devices=devices
    )
    if layout_map is None:
        layout_map = model_parallel_layout_map(device_mesh, model_axis)
    elif callable(layout_map) and not isinstance(layout_map, keras.distribution.LayoutMap):
        layout_map = layout_map(device_mesh)
    return keras.distribution.ModelParallel(
        layout_map=layout_map,
        batch_dim_name=batch_axis,
        auto_shard_dataset=auto_shard_dataset,
    )


def check_layout_map(model, layout_map):
    """Raise if a rule of `layout_map` matches none of `model`'s variables.

    A rule that matches nothing (a typo, a renamed layer) leaves the weights it was
    meant for replicated on every device: the model still runs, until it runs
    out of memory. Also raises if a rule's rank differs from a variable's it
    matches, or if a variable matches several rules (Keras raises that only when
    the variable is created).

    Args:
        model: a built Keras model.
        layout_map: a `keras.distribution.LayoutMap`.

    Returns:
        `{path: layout}` for the variables the map shards.
    """
    # Both towers name their layers alike: one path can belong to two variables.
    ranks = {variable.path: len(variable.shape) for variable in model.variables}
    paths = list(ranks)
    matched = {}
    for pattern in layout_map:
        hits = [path for path in paths if path == pattern or re.fullmatch(pattern, path)]
        if not hits:
            raise ValueError(
                f"The layout rule {pattern!r} matches none of the model's "
                f"{len(paths)} variable paths, which look like {paths[:3]} (a rule must "
                "match a whole `variable.path`). Fix or remove the rule: the variables "
                "it was meant for would be replicated on every device."
            )
        axes = layout_map[pattern].axes
        for path in hits:
            if len(axes) != ranks[path]:
                raise ValueError(
                    f"The layout rule {pattern!r} gives {len(axes)} axes {axes} to "
                    f"variable {path!r} of rank {ranks[path]}."
                )
            matched.setdefault(path, []).append(pattern)
    ambiguous = {path: rules for path, rules in matched.items() if len(rules) > 1}
    if ambiguous:
        raise ValueError(f"Variables matched by several layout rules: {ambiguous}.")
    return {path: layout_map[rules[0]] for path, rules in matched.items()}


def check_model_distribution(model, distribution=None):
    """Check `model`'s variables are laid out as the distribution says.

    With a `ModelParallel` distribution, first `check_layout_map`. Then each
    variable's placement is compared with the layout the distribution gives it
    (JAX backend; elsewhere only the layout map is checked). `SigLIP.compile`
    calls this under a distribution.

    Args:
        model: a built Keras model.
        distribution: a `keras.distribution.Distribution`; `None` for the
            active one (nothing to check without one).

    Raises:
        ValueError: a dead layout rule, or a variable placed otherwise than its
            layout: the model was built (or its weights created) outside the
            distribution's scope.
    """
    distribution = distribution or keras.distribution.distribution()
    if distribution is None:
        return
    if isinstance(distribution, keras.distribution.ModelParallel):
        check_layout_map(model, distribution._layout_map)
    if keras.backend.backend() != "jax":
        return
    for variable in model.variables:
        expected = _intended_layout(distribution, variable).backend_layout
        sharding = getattr(variable.value, "sharding", None)
        if sharding is None or not sharding.is_equivalent_to(expected, len(variable.shape)):
            raise ValueError(
                f"Variable {variable.path!r} is placed as {sharding} but the active "
                f"distribution lays it out as {expected}: the model was built outside "
                "the distribution's scope. Build it (and load its weights) inside "
                "`with distribution.scope():`, or after "
                "`keras.distribution.set_distribution(distribution)`."
            )


def _intended_layout(distribution, variable):
    # Not `distribution.get_variable_layout`, which returns the layout a variable
    # was created with, whatever distribution that was under.
    if isinstance(distribution, keras.distribution.DataParallel):
        layout = None
    elif isinstance(distribution, keras.distribution.ModelParallel):
        layout = distribution._layout_map[variable.path]
    else:
        return distribution.get_variable_layout(variable)
    if layout is None:
        layout = keras.distribution.TensorLayout(
            [None] * len(variable.shape), distribution.device_mesh
        )
    return layout
