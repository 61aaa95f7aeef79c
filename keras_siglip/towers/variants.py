"""Named tower sizes, decoded from big_vision-style strings such as "B/16".

A variant string is `NAME/PATCH`: the name picks width, depth, MLP width and heads
(shared by both towers unless the entry says otherwise), the number after the slash
is the image patch size.
"""

# Sizes of the official SigLIP towers (big_vision, transformers and open_clip agree),
# the usual ViT sizes in between, and small ones that train on two CPU cores.
VARIANTS = {
    "Pico": {"hidden_dim": 64, "num_layers": 2, "intermediate_dim": 256, "num_heads": 2},
    "Nano": {
        "hidden_dim": 128,
        "num_layers": 4,
        "text_num_layers": 2,
        "intermediate_dim": 512,
        "num_heads": 4,
    },
    # Nano's width and parameters with a layer moved from the text tower to the image
    # tower: the main job's default. On the embedded dataset (three seeds, 1,800 steps
    # of 128 pairs) it classified held-out digits better in every seed (zero-shot 89%
    # against 69% on average) and retrieved held-out emoji as well or better
    # (docs/main_job.md, "The towers").
    "Nano-i5t1": {
        "hidden_dim": 128,
        "num_layers": 5,
        "text_num_layers": 1,
        "intermediate_dim": 512,
        "num_heads": 4,
    },
    "Ti": {"hidden_dim": 192, "num_layers": 12, "intermediate_dim": 768, "num_heads": 3},
    "S": {"hidden_dim": 384, "num_layers": 12, "intermediate_dim": 1536, "num_heads": 6},
    "M": {"hidden_dim": 512, "num_layers": 12, "intermediate_dim": 2048, "num_heads": 8},
    "B": {"hidden_dim": 768, "num_layers": 12, "intermediate_dim": 3072, "num_heads": 12},
    "L": {"hidden_dim": 1024, "num_layers": 24, "intermediate_dim": 4096, "num_heads": 16},
    "So400m": {
        "hidden_dim": 1152,
        "num_layers": 27,
        "intermediate_dim": 4304,
        "num_heads": 16,
    },
    # SigLIP 2's giant: a wider image tower, the So400m text tower, whose head projects
    # to the image width.
    "g-opt": {
        "hidden_dim": 1536,
        "num_layers": 40,
        "intermediate_dim": 6144,
        "num_heads": 16,
        "text_hidden_dim": 1152,
        "text_num_layers": 27,
        "text_intermediate_dim": 4304,
        "text_num_heads": 16,
    },
}


def decode_variant(variant):
    """Tower sizes of a variant string.

    Args:
        variant: `"NAME/PATCH"`, NAME one of `VARIANTS` (e.g. `"B/16"`, `"So400m/14"`,
            `"Nano/8"`).

    Returns:
        A dict with `image` and `text` entries, each a dict of `hidden_dim`,
        `num_layers`, `intermediate_dim` and `num_heads`, and `patch_size`.

    Example:

    >>> decode_variant("B/16")["patch_size"]
    16
    >>> decode_variant("Nano/8")["text"]["num_layers"]
    2
    """
    if not isinstance(variant, str) or variant.count("/") != 1:
        raise ValueError(f"`variant` must look like 'NAME/PATCH' (e.g. 'B/16'), got {variant!r}.")
    name, patch = variant.split("/")
    if name not in VARIANTS:
        raise ValueError(
            f"Unknown variant name {name!r} in {variant!r}; expected one of {sorted(VARIANTS)}."
        )
    if not patch.isdigit() or int(patch) < 1:
        raise ValueError(
            f"The patch size in `variant` {variant!r} must be a positive integer, got {patch!r}."
        )
    entry = VARIANTS[name]
    image = {key: value for key, value in entry.items() if not key.startswith("text_")}
    text_overrides = {
        key[len("text_") :]: value for key, value in entry.items() if key.startswith("text_")
    }
    return {"image": image, "text": {**image, **text_overrides}, "patch_size": int(patch)}


def count_parameters(variant, image_size, sequence_length, vocabulary_size):
    """Number of weights of a SigLIP model, without building it.

    Counts what `SigLIP.from_variant(...).count_params()` counts, which is what
    transformers and open_clip report (keras-hub adds one non-trainable position id
    per patch and per text position). Handy for listing presets of a billion weights.

    Args:
        variant: `"NAME/PATCH"`, as for `SigLIP.from_variant`.
        image_size: side of the square input images.
        sequence_length: fixed text length.
        vocabulary_size: number of token ids.

    Example:

    >>> count_parameters("B/16", 224, 64, 32000)
    203155970
    """
    sizes = decode_variant(variant)
    image, text, patch = sizes["image"], sizes["text"], sizes["patch_size"]

    def blocks(hidden, layers, intermediate):
        attention = 4 * (hidden * hidden + hidden)
        mlp = 2 * hidden * intermediate + intermediate + hidden
        return layers * (4 * hidden + attention + mlp)

    width, mlp_width = image["hidden_dim"], image["intermediate_dim"]
    num_patches = (image_size // patch) ** 2
    image_tower = (
        patch * patch * 3 * width
        + width  # patch embedding
        + num_patches * width  # position embedding
        + blocks(width, image["num_layers"], mlp_width)
        + 2 * width  # final norm
        + width
        + 4 * (width * width + width)
        + 2 * width  # probe, attention, norm
        + 2 * width * mlp_width
        + mlp_width
        + width  # head MLP
    )
    text_width = text["hidden_dim"]
    text_tower = (
        (vocabulary_size + sequence_length) * text_width
        + blocks(text_width, text["num_layers"], text["intermediate_dim"])
        + 2 * text_width
        + text_width * width
        + width  # head to the image width
    )
    return image_tower + text_tower + 2  # log_temperature and bias


# Largest accepted value of each tower dimension, checked before any weight is
# allocated so that a hostile or mistyped config (hidden_size 10,000,000) fails at
# once instead of exhausting memory. Far above every published SigLIP (So400m: width
# 1152, 27 layers, MLP 4304; i18n vocabulary 250,000). Raise an entry (or
# `MAX_TOWER_PARAMETERS`) to build something larger:
# `keras_siglip.towers.variants.SIZE_CEILINGS["num_layers"] = 256`.
SIZE_CEILINGS = {
    "hidden_dim": 16_384,
    "embedding_dim": 16_384,
    "intermediate_dim": 131_072,
    "num_layers": 128,
    "num_heads": 1_024,
    "vocabulary_size": 1_048_576,
    "sequence_length": 16_384,
    "image_size": 4_096,
    "patch_size": 4_096,
}
# Weights of one tower, counted from its config: 20 billion (80 GB in float32).
MAX_TOWER_PARAMETERS = 20_000_000_000


def check_tower_sizes(tower, **sizes):
    """Refuse tower dimensions above `SIZE_CEILINGS` and towers above `MAX_TOWER_PARAMETERS`.

    Args:
        tower: the tower's name, for messages ("image_encoder", "text_encoder").
        **sizes: the dimensions given (keys of `SIZE_CEILINGS`); integers, or
            `None` where not set.

    Raises:
        ValueError: naming the field, the value and the ceiling.
    """
    for field, value in sizes.items():
        ceiling = SIZE_CEILINGS[field]
        if isinstance(value, int) and not isinstance(value, bool) and value > ceiling:
            raise ValueError(
                f"`{field}` of the {tower} is {value:,}, above the ceiling of {ceiling:,}; "
                f"raise keras_siglip.towers.variants.SIZE_CEILINGS[{field!r}] to build it."
            )
    if not all(isinstance(value, int) for value in sizes.values()):
        return  # the constructor's own checks name the bad value
    width, layers = sizes["hidden_dim"], sizes["num_layers"]
    intermediate = sizes.get("intermediate_dim", 4 * width)
    count = layers * (4 * (width * width + width) + 2 * width * intermediate + 6 * width)
    if "vocabulary_size" in sizes:
        count += (sizes["vocabulary_size"] + sizes["sequence_length"]) * width
    if "image_size" in sizes:
        patch = sizes["patch_size"]
        count += (patch * patch * 3 + (sizes["image_size"] // patch) ** 2) * width
    if count > MAX_TOWER_PARAMETERS:
        raise ValueError(
            f"The {tower}'s config describes about {count:,} weights, above the ceiling of "
            f"{MAX_TOWER_PARAMETERS:,}; raise "
            "keras_siglip.towers.variants.MAX_TOWER_PARAMETERS to build it."
        )
