"""Load big_vision SigLIP checkpoints (`.npz`) into `keras_siglip.SigLIP`.

big_vision saves a two-tower model's parameters flattened into one NumPy archive,
named by their Flax module paths:

    params/img/embedding/{kernel,bias}                  patch convolution (h, w, in, out)
    params/img/pos_embedding                            (1, patches, width)
    params/img/Transformer/encoderblock_{i}/...         one entry per block, or
    params/img/Transformer/encoderblock/...             all blocks stacked on a first
                                                        axis (a scanned encoder)
    params/img/Transformer/encoder_norm/{scale,bias}
    params/img/MAPHead_0/{probe, MultiHeadDotProductAttention_0, LayerNorm_0, MlpBlock_0}
    params/txt/Embed_0/embedding                        (vocabulary, width)
    params/txt/pos_embedding                            (1, length, width)
    params/txt/Encoder_0/encoderblock_{i}/... (or encoderblock/...), encoder_norm
    params/txt/head/{kernel,bias}                       the text projection
    params/t, params/b                                  log-temperature and bias

A block holds LayerNorm_0, MultiHeadDotProductAttention_0/{query,key,value,out},
LayerNorm_1 and MlpBlock_0/Dense_{0,1}. Dense kernels are `(in, out)`, as in
Keras; the attention's query, key and value kernels are `(width, heads,
head_dim)` and its output kernel `(heads, head_dim, width)`, so the number of
heads is read from the checkpoint (flattened `(width, width)` kernels are accepted
too, with `num_heads` given). Everything else is inferred from the shapes as well.

The archive is opened with `allow_pickle=False`: nothing in it is unpickled.
"""

import math
import os
import re
import zipfile

import numpy as np

from keras_siglip.convert import weights
from keras_siglip.towers import decode_variant

__all__ = ["is_big_vision_checkpoint", "load_big_vision_checkpoint"]

_PARAMS_PREFIX = "params/"
_IMAGE_BLOCKS = "img/Transformer"
_TEXT_BLOCKS = "txt/Encoder_0"
_ATTENTION = "MultiHeadDotProductAttention_0"
_MARKER = "img/embedding/kernel"


def is_big_vision_checkpoint(path):
    """Whether `path` is a big_vision two-tower `.npz` checkpoint.

    Looks for the image tower's patch embedding among the archive's member names
    (no array is read).

    Args:
        path: a path (anything else gives False).

    Returns:
        bool.

    Example:

    >>> is_big_vision_checkpoint("/no/such/file.npz")
    False
    """
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        return False
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    return f"{_MARKER}.npy" in names or f"{_PARAMS_PREFIX}{_MARKER}.npy" in names


def load_big_vision_checkpoint(
    path, variant=None, image_size=None, sequence_length=None, num_heads=None, dtype=None
):
    """Build a `SigLIP` from a big_vision `.npz` checkpoint and load its weights.

    Widths, depths, MLP widths, heads, patch size, vocabulary, text length and the
    image grid are read from the array shapes; the arguments only check them or
    fill what the shapes leave open. Every array is used and every model variable
    filled; shapes are checked before anything is assigned. A checkpoint without a
    text head (`txt/head`) gets an identity head, which computes the same.

    Args:
        path: the `.npz` file.
        variant: optionally a variant string such as `"B/16"`; the checkpoint's
            sizes must match it (an error lists the differences).
        image_size: side of the input images. By default the patch grid times the
            patch size; give the size the checkpoint was trained at when the patches
            do not tile it (So400m/14 at 384 px has a 27 x 27 grid, 378 px, and is
            used at 384 px). Must give the checkpoint's grid.
        sequence_length: the text length; by default the checkpoint's, which it
            must equal if given.
        num_heads: attention heads, needed only when the attention kernels are
            stored flattened `(width, width)` and no `variant` is given.
        dtype: dtype policy of both towers (e.g. `"bfloat16"`); `None` is Keras'
            global policy.

    Returns:
        A `keras_siglip.SigLIP`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a big_vision SigLIP checkpoint, sizes that disagree with
            the arguments, or arrays that do not fit the model (the message names
            the variable, the checkpoint key and both shapes).

    Usage (not run here: it needs a checkpoint):

        model = load_big_vision_checkpoint("webli_en_b16_224_63724782.npz")
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"The big_vision checkpoint {path!r} does not exist.")
    if not is_big_vision_checkpoint(path):
        raise ValueError(
            f"{path} is not a big_vision SigLIP checkpoint: a NumPy .npz archive with "
            f"the array {_PARAMS_PREFIX}{_MARKER}."
        )
    shapes, archive_names = _archive_shapes(path)
    config, layouts = _infer_config(shapes, path, variant, image_size, sequence_length, num_heads)
    model = weights.build_siglip(config, dtype)
    targets = checkpoint_targets(model, layouts)
    constants = []
    if not layouts["text_head"]:
        head = model.text_encoder.head
        constants = [
            (head.kernel, np.eye(*head.kernel.shape, dtype=np.float32)),
            (head.bias, np.zeros(head.bias.shape, np.float32)),
        ]
    with np.load(path, allow_pickle=False) as archive:
        weights.assign_weights(
            model,
            targets,
            shapes,
            lambda key: archive[archive_names[key]],
            source=f"The big_vision checkpoint {path}",
            constants=constants,
        )
    return model


def checkpoint_targets(model, layouts):
    """Where each array of a big_vision checkpoint goes in `model`.

    Args:
        model: a `keras_siglip.SigLIP` built with `ImageEncoder` and `TextEncoder`.
        layouts: `{"image": tower layout, "text": tower layout, "text_head": bool}`,
            a tower layout being `{"scanned": bool, "split_heads": bool}`: blocks
            stacked in one array per parameter, and attention kernels stored
            `(width, heads, head_dim)`.

    Returns:
        A list of `keras_siglip.convert.weights.Target`, keys without `params/`.
    """
    image, text = model.image_encoder, model.text_encoder
    targets = [
        weights.scalar("t", model, model.log_temperature),
        weights.scalar("b", model, model.bias),
    ]
    projection = image.patch_embedding.projection
    targets += [
        weights.direct("img/embedding/kernel", image, projection.kernel),
        weights.direct("img/embedding/bias", image, projection.bias),
        _with_batch_axis("img/pos_embedding", image, image.position_embedding.embeddings),
    ]
    targets += _encoder_targets(_IMAGE_BLOCKS, image, layouts["image"])
    targets += _layer_norm_targets(f"{_IMAGE_BLOCKS}/encoder_norm", image, image.final_norm)
    pooling = image.pooling
    targets.append(weights.direct("img/MAPHead_0/probe", image, pooling.probe))
    targets += _attention_targets(
        f"img/MAPHead_0/{_ATTENTION}", image, pooling.attention, layouts["image"]["split_heads"]
    )
    targets += _layer_norm_targets("img/MAPHead_0/LayerNorm_0", image, pooling.mlp_norm)
    targets += _mlp_targets("img/MAPHead_0/MlpBlock_0", image, pooling.mlp)

    targets += [
        weights.direct("txt/Embed_0/embedding", text, text.token_embedding.embeddings),
        _with_batch_axis("txt/pos_embedding", text, text.position_embedding.embeddings),
    ]
    targets += _encoder_targets(_TEXT_BLOCKS, text, layouts["text"])
    targets += _layer_norm_targets(f"{_TEXT_BLOCKS}/encoder_norm", text, text.final_norm)
    if layouts["text_head"]:
        targets += _dense_targets("txt/head", text, text.head)
    return targets


def _with_batch_axis(key, owner, variable):
    return weights.reshaped(key, owner, variable, (1,) + tuple(variable.shape))


def _dense_targets(prefix, owner, dense):
    return [
        weights.direct(f"{prefix}/kernel", owner, dense.kernel),
        weights.direct(f"{prefix}/bias", owner, dense.bias),
    ]


def _layer_norm_targets(prefix, owner, norm):
    return [
        weights.direct(f"{prefix}/scale", owner, norm.gamma),
        weights.direct(f"{prefix}/bias", owner, norm.beta),
    ]


def _mlp_targets(prefix, owner, mlp):
    return _dense_targets(f"{prefix}/Dense_0", owner, mlp.expand) + _dense_targets(
        f"{prefix}/Dense_1", owner, mlp.contract
    )


def _attention_targets(prefix, owner, attention, split_heads):
    heads, head_dim = attention.num_heads, attention.head_dim
    targets = []
    for name, dense in (
        ("query", attention.query_projection),
        ("key", attention.key_projection),
        ("value", attention.value_projection),
    ):
        width = dense.kernel.shape[0]
        kernel_shape = (width, heads, head_dim) if split_heads else (width, heads * head_dim)
        bias_shape = (heads, head_dim) if split_heads else (heads * head_dim,)
        targets += [
            weights.reshaped(f"{prefix}/{name}/kernel", owner, dense.kernel, kernel_shape),
            weights.reshaped(f"{prefix}/{name}/bias", owner, dense.bias, bias_shape),
        ]
    output = attention.output_projection
    width = output.kernel.shape[1]
    kernel_shape = (heads, head_dim, width) if split_heads else (heads * head_dim, width)
    targets += [
        weights.reshaped(f"{prefix}/out/kernel", owner, output.kernel, kernel_shape),
        weights.direct(f"{prefix}/out/bias", owner, output.bias),
    ]
    return targets


def _block_targets(prefix, owner, block, split_heads):
    return (
        _layer_norm_targets(f"{prefix}/LayerNorm_0", owner, block.attention_norm)
        + _attention_targets(f"{prefix}/{_ATTENTION}", owner, block.attention, split_heads)
        + _layer_norm_targets(f"{prefix}/LayerNorm_1", owner, block.mlp_norm)
        + _mlp_targets(f"{prefix}/MlpBlock_0", owner, block.mlp)
    )


def _encoder_targets(prefix, owner, layout):
    if not layout["scanned"]:
        return [
            target
            for index, block in enumerate(owner.encoder_blocks)
            for target in _block_targets(
                f"{prefix}/encoderblock_{index}", owner, block, layout["split_heads"]
            )
        ]
    # The same parameter of every block, stacked: one target per parameter.
    per_block = [
        _block_targets("", owner, block, layout["split_heads"]) for block in owner.encoder_blocks
    ]
    return [
        weights.stacked(f"{prefix}/encoderblock{layer_targets[0].key}", list(layer_targets))
        for layer_targets in zip(*per_block)
    ]


# --- Reading the archive and inferring the sizes -----------------------------------


def _archive_shapes(path):
    """`({key: shape}, {key: archive name})`, keys without `params/`, from the
    arrays' headers only."""
    shapes, names = {}, {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                raise ValueError(f"{path} holds {member!r}, which is not a NumPy array (.npy).")
            name = member[: -len(".npy")]
            key = name[len(_PARAMS_PREFIX) :] if name.startswith(_PARAMS_PREFIX) else name
            with archive.open(member) as file:
                version = np.lib.format.read_magic(file)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(file)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(file)
                else:
                    raise ValueError(
                        f"{path}: the array {name!r} is in .npy format version {version}, "
                        "which this reader does not know (1.0 and 2.0)."
                    )
                header_bytes = file.tell()
            if dtype.kind != "f":
                raise ValueError(
                    f"{path}: the array {name!r} has dtype {dtype}; a checkpoint's weights "
                    "are floats (float32, float16)."
                )
            # np.load allocates the shape the header gives and reads into it: the
            # member must really hold that many bytes (the shapes themselves are
            # bounded by the model they must fit before any array is read).
            data_bytes = math.prod(shape) * dtype.itemsize
            info = archive.getinfo(member)
            if info.file_size != header_bytes + data_bytes:
                raise ValueError(
                    f"{path}: the array {name!r} declares shape {tuple(shape)} of {dtype} "
                    f"({data_bytes:,} bytes) but its member holds "
                    f"{info.file_size - header_bytes:,} bytes of data."
                )
            if key in shapes:
                raise ValueError(f"{path} holds {key!r} both with and without '{_PARAMS_PREFIX}'.")
            shapes[key], names[key] = tuple(shape), name
    return shapes, names


def _infer_config(shapes, path, variant, image_size, sequence_length, num_heads):
    """Tower constructor arguments and storage layouts, from the array shapes."""

    def shape_of(key):
        if key not in shapes:
            raise ValueError(
                f"{path} is not a complete big_vision SigLIP checkpoint: it lacks {key!r}."
            )
        return shapes[key]

    patch_height, patch_width, channels, image_width = shape_of("img/embedding/kernel")
    if patch_height != patch_width or channels != 3:
        raise ValueError(
            f"{path}: 'img/embedding/kernel' has shape {shape_of('img/embedding/kernel')}; "
            "keras_siglip expects square patches of RGB images, (patch, patch, 3, width)."
        )
    patch_size = patch_height
    num_patches = shape_of("img/pos_embedding")[-2]
    grid = math.isqrt(num_patches)
    if grid * grid != num_patches:
        raise ValueError(
            f"{path}: 'img/pos_embedding' has {num_patches} positions, not a square grid."
        )
    if image_size is None:
        image_size = grid * patch_size
    elif image_size // patch_size != grid:
        raise ValueError(
            f"`image_size` {image_size} gives a {image_size // patch_size} x "
            f"{image_size // patch_size} grid of {patch_size}-pixel patches, but {path} "
            f"has position embeddings for {grid} x {grid} (images of {grid * patch_size} "
            f"to {(grid + 1) * patch_size - 1} pixels)."
        )

    vocabulary_size, text_width = shape_of("txt/Embed_0/embedding")
    length = shape_of("txt/pos_embedding")[-2]
    if sequence_length is not None and sequence_length != length:
        raise ValueError(
            f"`sequence_length` is {sequence_length} but {path} has position embeddings "
            f"for {length} tokens; the text tower takes exactly that many."
        )
    text_head = "txt/head/kernel" in shapes or "txt/head/bias" in shapes
    embedding_dim = shape_of("txt/head/kernel")[-1] if text_head else text_width

    variant_sizes = None
    if variant is not None:
        variant_sizes = decode_variant(variant)
    image_tower, image_layout = _tower_sizes(
        shapes, _IMAGE_BLOCKS, path, num_heads, variant_sizes and variant_sizes["image"]
    )
    text_tower, text_layout = _tower_sizes(
        shapes, _TEXT_BLOCKS, path, num_heads, variant_sizes and variant_sizes["text"]
    )
    image_tower["hidden_dim"], text_tower["hidden_dim"] = image_width, text_width
    if variant_sizes is not None:
        differences = [
            f"{tower} {name} {expected} (checkpoint: {found[name]})"
            for tower, found, wanted in (
                ("image", image_tower, variant_sizes["image"]),
                ("text", text_tower, variant_sizes["text"]),
            )
            for name, expected in wanted.items()
            if found[name] != expected
        ]
        if variant_sizes["patch_size"] != patch_size:
            differences.append(
                f"patch_size {variant_sizes['patch_size']} (checkpoint: {patch_size})"
            )
        if differences:
            raise ValueError(
                f"{path} is not a {variant!r} checkpoint: the variant has {'; '.join(differences)}."
            )
    if embedding_dim != image_width:
        raise ValueError(
            f"{path}: the text tower embeds into {embedding_dim} dimensions but the image "
            f"tower into {image_width}; a SigLIP model's towers share one space."
        )
    config = {
        "image_encoder": {
            "image_size": image_size,
            "patch_size": patch_size,
            **image_tower,
            "layer_norm_epsilon": 1e-6,
        },
        "text_encoder": {
            "vocabulary_size": vocabulary_size,
            "sequence_length": length,
            **text_tower,
            "embedding_dim": embedding_dim,
            "layer_norm_epsilon": 1e-6,
        },
    }
    image_block = _first_block(shapes, _IMAGE_BLOCKS)
    text_block = _first_block(shapes, _TEXT_BLOCKS)
    fields = {
        ("image_encoder", "image_size"): "the grid of 'img/pos_embedding' (or `image_size`)",
        ("image_encoder", "patch_size"): "axis 0 of 'img/embedding/kernel'",
        ("image_encoder", "hidden_dim"): "axis 3 of 'img/embedding/kernel'",
        ("image_encoder", "num_layers"): f"the blocks of '{_IMAGE_BLOCKS}'",
        ("image_encoder", "num_heads"): f"the heads of '{image_block}/{_ATTENTION}/query/kernel'",
        ("image_encoder", "intermediate_dim"): f"'{image_block}/MlpBlock_0/Dense_0/kernel'",
        ("text_encoder", "vocabulary_size"): "axis 0 of 'txt/Embed_0/embedding'",
        ("text_encoder", "sequence_length"): "the positions of 'txt/pos_embedding'",
        ("text_encoder", "hidden_dim"): "axis 1 of 'txt/Embed_0/embedding'",
        ("text_encoder", "num_layers"): f"the blocks of '{_TEXT_BLOCKS}'",
        ("text_encoder", "num_heads"): f"the heads of '{text_block}/{_ATTENTION}/query/kernel'",
        ("text_encoder", "intermediate_dim"): f"'{text_block}/MlpBlock_0/Dense_0/kernel'",
        ("text_encoder", "embedding_dim"): "the last axis of 'txt/head/kernel'",
    }
    weights.check_config_sizes(config, fields, f"The big_vision checkpoint {path}")
    return config, {"image": image_layout, "text": text_layout, "text_head": text_head}


def _first_block(shapes, prefix):
    """The key prefix of the first block of an encoder, stacked or one by one."""
    if any(key.startswith(f"{prefix}/encoderblock/") for key in shapes):
        return f"{prefix}/encoderblock"
    return f"{prefix}/encoderblock_0"


def _tower_sizes(shapes, prefix, path, num_heads, variant_sizes):
    """Depth, MLP width and heads of one tower's encoder, and how it is stored."""
    block_pattern = re.compile(re.escape(prefix) + r"/encoderblock_(\d+)/")
    indices = {int(match.group(1)) for key in shapes if (match := block_pattern.match(key))}
    scanned = any(key.startswith(f"{prefix}/encoderblock/") for key in shapes)
    if scanned and indices:
        raise ValueError(
            f"{path} stores the blocks of {prefix} both stacked ('encoderblock/') and one "
            "by one ('encoderblock_N/'); expected one of the two."
        )
    if scanned:
        block = f"{prefix}/encoderblock"
        depth = shapes.get(f"{block}/LayerNorm_0/scale", (0,))[0]
        lead = 1
    else:
        if not indices:
            raise ValueError(f"{path} has no encoder blocks under {prefix!r}.")
        if indices != set(range(len(indices))):
            raise ValueError(
                f"{path} numbers the blocks of {prefix} {sorted(indices)}; expected 0 to "
                f"{len(indices) - 1} without gaps."
            )
        block = f"{prefix}/encoderblock_0"
        depth = len(indices)
        lead = 0
    mlp_key = f"{block}/MlpBlock_0/Dense_0/kernel"
    query_key = f"{block}/{_ATTENTION}/query/kernel"
    for key in (mlp_key, query_key):
        if key not in shapes:
            raise ValueError(
                f"{path} is not a complete big_vision SigLIP checkpoint: it lacks {key!r}."
            )
    intermediate_dim = shapes[mlp_key][lead + 1]
    query_shape = shapes[query_key][lead:]
    split_heads = len(query_shape) == 3
    if split_heads:
        heads = query_shape[1]
        if num_heads is not None and num_heads != heads:
            raise ValueError(
                f"`num_heads` is {num_heads} but {path} stores {heads} heads in "
                f"{query_key!r} (shape {shapes[query_key]})."
            )
    elif num_heads is not None:
        heads = num_heads
    elif variant_sizes is not None:
        heads = variant_sizes["num_heads"]
    else:
        raise ValueError(
            f"{path} stores the attention kernels flattened ({query_key!r} has shape "
            f"{shapes[query_key]}), so the number of heads cannot be read from it: pass "
            "`num_heads` or `variant`."
        )
    return (
        {"num_layers": depth, "num_heads": heads, "intermediate_dim": intermediate_dim},
        {"scanned": scanned, "split_heads": split_heads},
    )
