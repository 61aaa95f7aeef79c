"""What the converters share: checked assignment, and the weights-file comparison.

A converter describes a checkpoint as a list of `Target`s, one per checkpoint
array, each naming the model variables that array fills and how its layout maps
onto theirs. `assign_weights` then checks the whole description against the
checkpoint before reading any array: every checkpoint array is used, every model
variable is filled exactly once, and every shape agrees. Errors name the model
variable, the checkpoint key and both shapes.
"""

import dataclasses
import os
import tempfile
from collections.abc import Callable

import h5py
import keras
import numpy as np

# Re-exported for the converters, which build their model through this module.
from keras_siglip.model import build_siglip
from keras_siglip.towers.variants import SIZE_CEILINGS, check_tower_sizes

__all__ = [
    "Target",
    "assign_weights",
    "build_siglip",
    "check_config_sizes",
    "direct",
    "reshaped",
    "scalar",
    "stacked",
    "transposed",
    "variable_name",
    "weights_file_differences",
]

# How many names an error lists before it says "and N more".
_LISTED = 12


@dataclasses.dataclass(frozen=True)
class Target:
    """One checkpoint array and the model variables it fills.

    Attributes:
        key: the array's name in the checkpoint.
        variables: `(name, variable)` pairs, in the order `convert` returns them.
        checkpoint_shape: the shape the array must have in the checkpoint.
        convert: maps the checkpoint array to one array per variable, each in the
            variable's shape.
        scalar: any shape with a single element is accepted (temperature and bias,
            stored as `()` or `(1,)`).
    """

    key: str
    variables: tuple
    checkpoint_shape: tuple
    convert: Callable
    scalar: bool = False

    def accepts(self, shape):
        if self.scalar:
            return int(np.prod(shape)) == 1
        return tuple(shape) == tuple(self.checkpoint_shape)


def check_config_sizes(config, fields, source):
    """Refuse a checkpoint's tower sizes before anything is built or read.

    Every size must be a positive integer within the towers' `SIZE_CEILINGS`
    (`keras_siglip.towers.variants`), and each tower's parameter count within
    `MAX_TOWER_PARAMETERS`: a hostile or mistyped configuration (a `hidden_size`
    of 10,000,000) fails at once, naming the checkpoint's own field.

    Args:
        config: `{"image_encoder": {...}, "text_encoder": {...}}`, the towers'
            constructor arguments read from the checkpoint.
        fields: `{(tower, argument): the checkpoint's name for it}`, e.g.
            `{("image_encoder", "hidden_dim"): "vision_config.hidden_size"}`.
        source: the checkpoint's configuration in words (e.g. its file).

    Raises:
        ValueError: naming the field, the value and the ceiling.
    """
    for tower, arguments in config.items():
        sizes = {name: value for name, value in arguments.items() if name in SIZE_CEILINGS}
        for name, value in sizes.items():
            field = fields.get((tower, name), f"{tower}.{name}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{source} gives `{field}` as {value!r}; expected a positive integer."
                )
            if value > SIZE_CEILINGS[name]:
                raise ValueError(
                    f"{source} gives `{field}` as {value:,}, above the ceiling of "
                    f"{SIZE_CEILINGS[name]:,} for a tower's `{name}`; raise "
                    f"keras_siglip.towers.variants.SIZE_CEILINGS[{name!r}] to load it."
                )
        try:
            check_tower_sizes(tower, **sizes)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None


def variable_name(owner, variable):
    """`tower/path` of a tower's variable, unambiguous across the two towers (a
    tower's variable paths do not start with the tower's name)."""
    if variable.path.startswith(f"{owner.name}/"):
        return variable.path
    return f"{owner.name}/{variable.path}"


def direct(key, owner, variable):
    """The checkpoint array has the variable's layout."""
    return Target(
        key, ((variable_name(owner, variable), variable),), tuple(variable.shape), lambda a: [a]
    )


def transposed(key, owner, variable):
    """A 2-D checkpoint array stored `(out, in)`, as torch's `Linear.weight`."""
    rows, columns = variable.shape
    return Target(
        key, ((variable_name(owner, variable), variable),), (columns, rows), lambda a: [a.T]
    )


def reshaped(key, owner, variable, checkpoint_shape):
    """The checkpoint array holds the variable's values in another shape, same order."""
    shape = tuple(variable.shape)
    return Target(
        key,
        ((variable_name(owner, variable), variable),),
        tuple(checkpoint_shape),
        lambda a: [np.reshape(a, shape)],
    )


def scalar(key, owner, variable):
    """A one-element checkpoint array for a scalar variable."""
    return Target(
        key,
        ((variable_name(owner, variable), variable),),
        (1,),
        lambda a: [np.reshape(a, ())],
        scalar=True,
    )


def stacked(key, layer_targets):
    """One checkpoint array that stacks the arrays of `layer_targets` on a new first
    axis, as big_vision stores scanned encoder blocks."""
    first = layer_targets[0]

    def convert(array):
        return [
            value
            for index, target in enumerate(layer_targets)
            for value in target.convert(array[index])
        ]

    return Target(
        key,
        tuple(pair for target in layer_targets for pair in target.variables),
        (len(layer_targets),) + tuple(first.checkpoint_shape),
        convert,
    )


def weights_file_differences(model, weights_file):
    """Where the arrays of Keras weights file `weights_file` and of `model` disagree,
    in words (an empty list when every name and shape agrees)."""

    def shapes(file):
        found = {}
        with h5py.File(file, "r") as handle:
            handle.visititems(
                lambda name, item: (
                    found.__setitem__(name, tuple(item.shape))
                    if isinstance(item, h5py.Dataset) and not name.startswith("optimizer/")
                    else None
                )
            )
        return found

    try:
        given = shapes(weights_file)
    except Exception as error:
        return [f"the file is not a readable HDF5 weights file ({error})"]
    with tempfile.TemporaryDirectory() as scratch:
        expected_file = os.path.join(scratch, "model.weights.h5")
        model.save_weights(expected_file)
        expected = shapes(expected_file)
    differences = [
        f"{name} has shape {given[name]} in the file but {shape} in the model"
        for name, shape in expected.items()
        if name in given and given[name] != shape
    ]
    differences += [
        f"{name} (shape {expected[name]}) is missing from the file"
        for name in expected
        if name not in given
    ]
    differences += [
        f"the file holds {name} that the model lacks" for name in given if name not in expected
    ]
    return differences


def assign_weights(model, targets, shapes, read, source, hint="", constants=()):
    """Check `targets` against the checkpoint, then fill the model's variables.

    Nothing is assigned unless every check passes.

    Args:
        model: the `SigLIP` whose variables `targets` name.
        targets: the `Target`s describing the checkpoint.
        shapes: `{key: shape}` of every array in the checkpoint.
        read: `read(key)` returns the array `key` as a NumPy array.
        source: the checkpoint, in words, for error messages (e.g. its path).
        hint: a sentence appended to key and shape errors (what to check).
        constants: `(variable, value)` pairs for variables the checkpoint has no
            array for but whose value is known (an identity head).

    Raises:
        ValueError: the checkpoint lacks keys the model needs, holds keys it has
            no use for, or an array's shape disagrees with its variable's.
    """
    suffix = f" {hint}" if hint else ""
    wanted = [target.key for target in targets]
    missing = [key for key in wanted if key not in shapes]
    unexpected = sorted(set(shapes) - set(wanted))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_listing(unexpected)}")
        raise ValueError(
            f"{source} does not hold the weights of the model its configuration "
            f"describes; {'; '.join(parts)}.{suffix}"
        )
    mismatches = [
        f"{' + '.join(name for name, _ in target.variables)} <- {target.key!r}: shape "
        f"{tuple(shapes[target.key])} in the checkpoint, but the model expects "
        f"{tuple(target.checkpoint_shape)}"
        for target in targets
        if not target.accepts(shapes[target.key])
    ]
    if mismatches:
        more = f" (and {len(mismatches) - 5} more)" if len(mismatches) > 5 else ""
        raise ValueError(
            f"{source} does not fit the model its configuration describes: "
            f"{'; '.join(mismatches[:5])}{more}.{suffix}"
        )
    _check_every_variable_filled_once(model, targets, constants)
    for variable, value in constants:
        _assign(variable, value)
    for target in targets:
        values = target.convert(read(target.key))
        for (name, variable), value in zip(target.variables, values):
            if tuple(np.shape(value)) != tuple(variable.shape):
                raise AssertionError(
                    f"Converting {target.key!r} gave shape {np.shape(value)} for {name}, "
                    f"whose shape is {tuple(variable.shape)}."
                )
            _assign(variable, value)


def _assign(variable, value):
    dtype = keras.backend.standardize_dtype(variable.dtype)
    if dtype in ("float16", "float32", "float64"):
        variable.assign(np.asarray(value, dtype=dtype))
    else:  # bfloat16, which NumPy has no type for: cast by the backend.
        variable.assign(keras.ops.cast(keras.ops.convert_to_tensor(np.asarray(value)), dtype))


def _check_every_variable_filled_once(model, targets, constants):
    filled = {id(variable): "a constant" for variable, _ in constants}
    for target in targets:
        for name, variable in target.variables:
            if id(variable) in filled:
                raise AssertionError(
                    f"{name} is filled by both {filled[id(variable)]!r} and {target.key!r}."
                )
            filled[id(variable)] = target.key
    left = [variable.path for variable in model.variables if id(variable) not in filled]
    if left:
        raise AssertionError(
            f"The conversion leaves these model variables unassigned: {_listing(left)}."
        )


def _listing(names):
    shown = ", ".join(repr(name) for name in names[:_LISTED])
    return shown + (f", and {len(names) - _LISTED} more" if len(names) > _LISTED else "")
