"""keras-hub SigLIP presets to `keras_siglip.SigLIP` and `SigLIPPreprocessor`.

A keras-hub preset directory (what `SigLIPBackbone.save_to_preset` and
`SigLIPPreprocessor.save_to_preset` write) holds:

    config.json        the `SigLIPBackbone`'s Keras config (registered name
                       "keras_hub>SigLIPBackbone")
    metadata.json      versions and parameter count
    model.weights.h5   the weights (or model.weights.json and shards, when large)
    preprocessor.json, tokenizer.json, image_converter.json
    assets/tokenizer/vocabulary.spm   the SentencePiece model

The architecture is read from `config.json` as plain data. The weights are read
by keras-hub itself, `SigLIPBackbone.from_preset(path)`: its loader knows its own
weight-file layout (which Keras derives from class names and creation order)
and its sharded files, and builds the backbone from the config in Keras'
safe mode, so nothing in the directory runs code. Each keras-hub variable is then
matched to ours by the structure of the two models (which attribute of which
layer holds it), never by name, through the checked assignment of
`keras_siglip.convert.weights`: every array is used, every variable of ours filled
once, and a shape that disagrees is an error naming both variables and shapes.
Holding both models at once costs twice the weights' memory while loading.
"""

import json
import os

import keras
import numpy as np

from keras_siglip.convert import weights as weight_assignment
from keras_siglip.files import file_inside
from keras_siglip.preprocessing import SigLIPPreprocessor, SigLIPTokenizer

KERAS_HUB_BACKBONE = "keras_hub>SigLIPBackbone"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
PREPROCESSOR_FILE = "preprocessor.json"
IMAGE_CONVERTER_FILE = "image_converter.json"
VOCABULARY_FILE = os.path.join("assets", "tokenizer", "vocabulary.spm")
# What our towers compute: keras-hub makes these configurable, SigLIP fixes them.
_ACTIVATION = "gelu_approximate"
# keras-hub's image tower normalises before its head with this epsilon whatever
# its config says; ours uses one epsilon throughout.
_VISION_FINAL_NORM_EPSILON = 1e-6


def is_keras_hub_preset(path):
    """Whether `path` is a local keras-hub preset directory of a `SigLIPBackbone`.

    Reads only `path/config.json`; never raises.

    Example:

    >>> is_keras_hub_preset("/no/such/directory")
    False
    """
    if not isinstance(path, (str, os.PathLike)):
        return False
    try:
        with open(file_inside(path, CONFIG_FILE), encoding="utf-8") as file:
            config = json.load(file)
    except (OSError, ValueError):  # a config linked outside the directory is none
        return False
    return isinstance(config, dict) and config.get("registered_name") == KERAS_HUB_BACKBONE


def load_keras_hub_preset(path, load_weights=True, dtype=None):
    """A `SigLIP` with the architecture and weights of a keras-hub preset directory.

    Args:
        path: a local directory written by keras-hub's `save_to_preset` (download
            a Kaggle or Hugging Face keras-hub preset first).
        load_weights: copy the preset's weights; `False` builds the architecture
            with our initialisation (the paper's temperature and bias).
        dtype: dtype policy of our towers, e.g. `"bfloat16"`; `None` is Keras'
            global policy. The weights are cast on assignment.

    Returns:
        A `keras_siglip.SigLIP` whose logits, `encode_images` and `encode_texts`
        equal keras-hub's `text_logits.T` and its L2-normalised
        `get_vision_embeddings` / `get_text_embeddings`.

    Raises:
        ValueError: `path` is not a keras-hub SigLIP preset, its architecture is
            one our towers cannot compute (another activation or epsilon), or its
            weights disagree with its config (the error names the variable and
            both shapes).

    Example:

    >>> import tempfile, keras_hub
    >>> backbone = keras_hub.models.SigLIPBackbone(
    ...     keras_hub.models.SigLIPVisionEncoder(
    ...         patch_size=8, hidden_dim=16, num_layers=1, num_heads=2,
    ...         intermediate_dim=32, image_shape=(16, 16, 3)),
    ...     keras_hub.models.SigLIPTextEncoder(
    ...         vocabulary_size=50, embedding_dim=16, hidden_dim=16, num_layers=1,
    ...         num_heads=2, intermediate_dim=32, max_sequence_length=8))
    >>> path = tempfile.mkdtemp()
    >>> backbone.save_to_preset(path)
    >>> model = load_keras_hub_preset(path)
    >>> model.image_size, model.sequence_length, model.vocabulary_size
    (16, 8, 50)
    """
    path = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not is_keras_hub_preset(path):
        raise ValueError(
            f"{path!r} is not a keras-hub SigLIP preset directory: expected a "
            f"{CONFIG_FILE} whose 'registered_name' is {KERAS_HUB_BACKBONE!r}."
        )
    with open(file_inside(path, CONFIG_FILE), encoding="utf-8") as file:
        config = json.load(file)["config"]
    model = weight_assignment.build_siglip(_tower_arguments(config, path), dtype=dtype)
    if load_weights:
        check_files_inside(path)
        _copy_weights(_load_backbone(path), model, source=f"The keras-hub preset {path}")
    return model


def from_keras_hub_backbone(backbone, dtype=None):
    """A `SigLIP` with the architecture and weights of a keras-hub `SigLIPBackbone`.

    Args:
        backbone: a built `keras_hub.models.SigLIPBackbone`.
        dtype: dtype policy of our towers; `None` is Keras' global policy.

    Returns:
        A `keras_siglip.SigLIP` computing the same embeddings and logits.
    """
    import keras_hub

    if not isinstance(backbone, keras_hub.models.SigLIPBackbone):
        raise TypeError(
            f"`backbone` must be a keras_hub.models.SigLIPBackbone, got {type(backbone).__name__}."
        )
    model = weight_assignment.build_siglip(
        _tower_arguments(backbone.get_config(), "the backbone"), dtype=dtype
    )
    _copy_weights(backbone, model, source=f"The keras-hub backbone {backbone.name!r}")
    return model


def preprocessor_from_keras_hub(path):
    """Our `SigLIPPreprocessor` for a keras-hub preset directory.

    The vocabulary is `assets/tokenizer/vocabulary.spm`. The text length and
    canonicalisation come from `preprocessor.json` (else the text tower's length,
    canonicalised), the image size from `image_converter.json` (else the image
    tower's). keras-hub's `scale` and `offset` map pixel values to `[-1, 1]`;
    the preprocessor's `input_range` is the range they map there, `(0, 255)` for
    keras-hub's SigLIP presets, so float pixels in `[0, 255]` work as in keras-hub.
    Two differences stay: images are squashed to the square as SigLIP was trained
    (keras-hub's converter may crop to the aspect ratio instead), and the
    canonicalisation lower-cases all of Unicode (keras-hub's only ASCII).

    Args:
        path: a keras-hub preset directory with the tokenizer assets.

    Returns:
        A `keras_siglip.preprocessing.SigLIPPreprocessor`.

    Raises:
        FileNotFoundError: the directory has no vocabulary.
        ValueError: the preset's preprocessing is not SigLIP's (a start token, no
            end token, per-channel normalisation), or a file is corrupt.
    """
    path = os.fspath(path)
    if not is_keras_hub_preset(path):
        raise ValueError(
            f"{path!r} is not a keras-hub SigLIP preset directory: expected a "
            f"{CONFIG_FILE} whose 'registered_name' is {KERAS_HUB_BACKBONE!r}."
        )
    vocabulary = file_inside(path, VOCABULARY_FILE)
    if not os.path.isfile(vocabulary):
        raise FileNotFoundError(
            f"The keras-hub preset {path} has no tokenizer vocabulary {VOCABULARY_FILE}; "
            "it was saved without its preprocessor."
        )
    with open(file_inside(path, CONFIG_FILE), encoding="utf-8") as file:
        towers = _tower_arguments(json.load(file)["config"], path)
    text = _optional_config(path, PREPROCESSOR_FILE)
    if text.get("add_start_token", False) or not text.get("add_end_token", True):
        raise ValueError(
            f"{os.path.join(path, PREPROCESSOR_FILE)} adds a start token or no end token "
            "(add_start_token="
            f"{text.get('add_start_token')}, add_end_token={text.get('add_end_token')}); "
            "SigLIP's text tower pools the last position, which must be the end token."
        )
    with open(vocabulary, "rb") as file:
        proto = file.read()
    try:
        tokenizer = SigLIPTokenizer(
            proto,
            sequence_length=text.get("sequence_length", towers["text_encoder"]["sequence_length"]),
            canonicalize=bool(text.get("canonicalize_text", True)),
        )
    except ValueError as error:
        raise ValueError(f"Cannot build the tokenizer from {vocabulary}: {error}") from None
    images = _optional_config(path, IMAGE_CONVERTER_FILE)
    image_size = images.get("image_size") or [towers["image_encoder"]["image_size"]] * 2
    if image_size[0] != image_size[1]:
        raise ValueError(
            f"{os.path.join(path, IMAGE_CONVERTER_FILE)} resizes to {tuple(image_size)}; "
            "SigLIP takes square images."
        )
    input_range = _input_range(images.get("scale"), images.get("offset"), path)
    return SigLIPPreprocessor(tokenizer, image_size=int(image_size[0]), input_range=input_range)


# --- Architecture -------------------------------------------------------------


def _tower_arguments(backbone_config, where):
    """Our towers' constructor arguments from a `SigLIPBackbone` config dict."""
    vision = _encoder_config(backbone_config, "vision_encoder", where)
    text = _encoder_config(backbone_config, "text_encoder", where)
    for name, encoder in (("vision_encoder", vision), ("text_encoder", text)):
        activation = encoder.get("intermediate_activation", _ACTIVATION)
        if activation != _ACTIVATION:
            raise ValueError(
                f"The {name} of {where} uses intermediate_activation={activation!r}; "
                f"SigLIP's towers use {_ACTIVATION!r} (tanh-approximate GELU)."
            )
    epsilon = vision.get("layer_norm_epsilon", _VISION_FINAL_NORM_EPSILON)
    if epsilon != _VISION_FINAL_NORM_EPSILON:
        raise ValueError(
            f"The vision_encoder of {where} has layer_norm_epsilon={epsilon}, but "
            f"keras-hub's final image norm always uses {_VISION_FINAL_NORM_EPSILON}; our "
            "image tower takes one epsilon for every norm."
        )
    config = {
        "image_encoder": {
            "image_size": _image_size(vision["image_shape"], where),
            "patch_size": vision["patch_size"],
            "hidden_dim": vision["hidden_dim"],
            "num_layers": vision["num_layers"],
            "num_heads": vision["num_heads"],
            "intermediate_dim": vision["intermediate_dim"],
            "layer_norm_epsilon": epsilon,
        },
        "text_encoder": {
            "vocabulary_size": text["vocabulary_size"],
            "sequence_length": text["max_sequence_length"],
            "hidden_dim": text["hidden_dim"],
            "num_layers": text["num_layers"],
            "num_heads": text["num_heads"],
            "intermediate_dim": text["intermediate_dim"],
            "embedding_dim": text.get("projection_dim") or text["hidden_dim"],
            "layer_norm_epsilon": text.get("layer_norm_epsilon", 1e-6),
        },
    }
    weight_assignment.check_config_sizes(config, _FIELDS, f"The config of {where}")
    if text["embedding_dim"] != text["hidden_dim"]:
        raise ValueError(
            f"The text_encoder of {where} embeds tokens in {text['embedding_dim']} "
            f"dimensions but its blocks are {text['hidden_dim']} wide; they must agree."
        )
    return config


# keras-hub's name of each tower argument, for errors.
_FIELDS = {
    **{
        ("image_encoder", name): f"vision_encoder.config.{name}"
        for name in ("patch_size", "hidden_dim", "num_layers", "num_heads", "intermediate_dim")
    },
    ("image_encoder", "image_size"): "vision_encoder.config.image_shape",
    **{
        ("text_encoder", name): f"text_encoder.config.{name}"
        for name in ("vocabulary_size", "hidden_dim", "num_layers", "num_heads", "intermediate_dim")
    },
    ("text_encoder", "sequence_length"): "text_encoder.config.max_sequence_length",
    ("text_encoder", "embedding_dim"): "text_encoder.config.projection_dim",
}


def _encoder_config(backbone_config, key, where):
    encoder = backbone_config.get(key)
    if isinstance(encoder, dict) and isinstance(encoder.get("config"), dict):
        return encoder["config"]
    raise ValueError(f"The config of {where} has no serialised {key!r}.")


def _image_size(image_shape, where):
    """The side of keras-hub's square `image_shape`, channels last or first."""
    height, width = image_shape[:2] if image_shape[-1] == 3 else image_shape[1:]
    if height is None or height != width:
        raise ValueError(
            f"The vision_encoder of {where} takes images of shape {tuple(image_shape)}; "
            "SigLIP's image tower needs a fixed square size."
        )
    return int(height)


# --- Weights ------------------------------------------------------------------


def check_files_inside(path):
    """Refuse a preset with any file or folder that resolves outside `path`.

    keras-hub's loader opens the weights (and their shards) itself, so every entry
    of the directory is checked with `keras_siglip.files.file_inside` before it runs.
    """
    for folder, folders, files in os.walk(path):
        for name in folders + files:
            file_inside(path, os.path.relpath(os.path.join(folder, name), path))


def _load_backbone(path):
    """keras-hub's backbone with the preset's weights, or an error naming the
    variables whose shapes disagree with the config."""
    import keras_hub

    backbone_class = keras_hub.models.SigLIPBackbone
    try:
        return backbone_class.from_preset(path)
    except Exception as error:  # keras' message dumps whole arrays: say it briefly
        weights = file_inside(path, WEIGHTS_FILE)
        differences = []
        if os.path.isfile(weights):
            try:
                differences = weight_assignment.weights_file_differences(
                    backbone_class.from_preset(path, load_weights=False), weights
                )
            except Exception:  # the config itself is broken: keep keras-hub's error
                differences = []
        detail = "; ".join(differences[:5]) if differences else str(error)
        raise ValueError(
            f"Could not load the keras-hub preset {path}: its weights do not fit the "
            f"architecture {CONFIG_FILE} describes: {detail}"
        ) from error


def _copy_weights(backbone, model, source):
    """Fill every variable of `model` from the matching one of `backbone`."""
    match = _StructureMatch(model)
    vision, image = backbone.vision_encoder, model.image_encoder
    match.tower = "vision_encoder"
    match.dense(image.patch_embedding.projection, vision.embedding.patch_embedding)
    match.direct(
        image.position_embedding.embeddings, vision.embedding.position_embedding.embeddings
    )
    match.blocks(image.encoder_blocks, vision.encoder_layers, source)
    match.norm(image.final_norm, vision.post_layer_norm)
    match.direct(image.pooling.probe, vision.head.probe)
    match.attention(image.pooling.attention, vision.head.attention)
    match.norm(image.pooling.mlp_norm, vision.head.layer_norm)
    match.dense(image.pooling.mlp.expand, vision.head.mlp.fc1)
    match.dense(image.pooling.mlp.contract, vision.head.mlp.fc2)

    text, words = backbone.text_encoder, model.text_encoder
    match.tower = "text_encoder"
    match.direct(words.token_embedding.embeddings, text.embedding.token_embedding.embeddings)
    match.direct(words.position_embedding.embeddings, text.embedding.position_embedding.embeddings)
    match.blocks(words.encoder_blocks, text.encoder_layers, source)
    match.norm(words.final_norm, text.post_layer_norm)
    match.dense(words.head, text.head)

    head = backbone.siglip_head
    match.tower = "siglip_head"
    match.add(weight_assignment.scalar, model.log_temperature, head.logit_scale)
    match.add(weight_assignment.scalar, model.bias, head.logit_bias)

    # The checkpoint is every variable of the backbone, so one that the structure
    # above misses is reported as unexpected. `position_ids` are `arange`
    # constants that both models compute for themselves.
    owners = {}
    for tower, layer in (("vision_encoder", vision), ("text_encoder", text), ("siglip_head", head)):
        owners.update((id(variable), tower) for variable in layer.weights)
    checkpoint = {
        match.key(owners.get(id(variable), "backbone"), variable): variable
        for variable in backbone.weights
        if not variable.path.endswith("position_ids")
    }
    weight_assignment.assign_weights(
        model,
        match.targets,
        shapes={key: tuple(variable.shape) for key, variable in checkpoint.items()},
        read=lambda key: keras.ops.convert_to_numpy(checkpoint[key]),
        source=source,
    )


class _StructureMatch:
    """`Target`s pairing our variables with keras-hub's, layer by layer.

    A keras-hub variable's key is its tower and path ("text_encoder/head/kernel"):
    paths repeat across the towers, and depend on names that keras-hub prefixes
    when it loads a config, so the pairing follows attributes, never names.
    """

    def __init__(self, model):
        self.model = model
        self.tower = None
        self.targets = []
        self._keys = {}

    def key(self, tower, variable):
        return self._keys.setdefault(id(variable), f"{tower}/{variable.path}")

    def add(self, target, ours, theirs, *checkpoint_shape):
        owner = {
            "vision_encoder": self.model.image_encoder,
            "text_encoder": self.model.text_encoder,
        }.get(self.tower, self.model)
        key = self.key(self.tower, theirs)
        self.targets.append(target(key, owner, ours, *checkpoint_shape))

    def direct(self, ours, theirs):
        self.add(weight_assignment.direct, ours, theirs)

    def norm(self, ours, theirs):
        self.direct(ours.gamma, theirs.gamma)
        self.direct(ours.beta, theirs.beta)

    def dense(self, ours, theirs):
        self.direct(ours.kernel, theirs.kernel)
        self.direct(ours.bias, theirs.bias)

    def attention(self, ours, theirs):
        """Keras' MultiHeadAttention keeps the heads on their own axes:
        `(width, heads, head_dim)` projections in, `(heads, head_dim, width)` out."""
        heads = (ours.num_heads, ours.head_dim)
        for projection, their_projection in (
            (ours.query_projection, theirs.query_dense),
            (ours.key_projection, theirs.key_dense),
            (ours.value_projection, theirs.value_dense),
        ):
            self.add(
                weight_assignment.reshaped,
                projection.kernel,
                their_projection.kernel,
                (ours.hidden_dim,) + heads,
            )
            self.add(weight_assignment.reshaped, projection.bias, their_projection.bias, heads)
        self.add(
            weight_assignment.reshaped,
            ours.output_projection.kernel,
            theirs.output_dense.kernel,
            heads + (ours.hidden_dim,),
        )
        self.direct(ours.output_projection.bias, theirs.output_dense.bias)

    def blocks(self, ours, theirs, source):
        if len(ours) != len(theirs):
            raise ValueError(
                f"{source} has {len(theirs)} blocks in its {self.tower}, the model {len(ours)}."
            )
        for block, their_block in zip(ours, theirs):
            self.norm(block.attention_norm, their_block.layer_norm1)
            self.attention(block.attention, their_block.self_attn)
            self.norm(block.mlp_norm, their_block.layer_norm2)
            self.dense(block.mlp.expand, their_block.mlp.fc1)
            self.dense(block.mlp.contract, their_block.mlp.fc2)


# --- Preprocessing -------------------------------------------------------------


def _optional_config(path, name):
    """The `config` of keras-hub's serialised object in `path/name`, or `{}`."""
    file = file_inside(path, name)
    if not os.path.isfile(file):
        return {}
    try:
        with open(file, encoding="utf-8") as handle:
            content = json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{file} is not valid JSON: {error}") from None
    if not isinstance(content, dict) or not isinstance(content.get("config"), dict):
        raise ValueError(f"{file} is not a serialised keras-hub object (no 'config').")
    return content["config"]


def _input_range(scale, offset, path):
    """The pixel range that `x * scale + offset` maps to `[-1, 1]`."""
    if scale is None and offset is None:
        return (-1.0, 1.0)
    scale = _single(1.0 if scale is None else scale, "scale", path)
    offset = _single(0.0 if offset is None else offset, "offset", path)
    return ((-1.0 - offset) / scale, (1.0 - offset) / scale)


def _single(value, name, path):
    values = np.ravel(np.asarray(value, dtype="float64"))
    if values.size == 0 or not np.all(values == values[0]) or (name == "scale" and values[0] == 0):
        raise ValueError(
            f"{os.path.join(path, IMAGE_CONVERTER_FILE)} has {name}={value!r}; SigLIP "
            "scales every channel alike to [-1, 1], which needs one non-zero scale and "
            "one offset."
        )
    return float(values[0])
