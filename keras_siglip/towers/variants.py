"""Named tower sizes, decoded from big_vision-style strings such as "B/16".

A variant string is `NAME/PATCH`: the name picks width, depth, MLP width and heads
(shared by both towers unless the entry says otherwise), the number after the slash
is the image patch size.
"""

# Sizes of the official SigLIP towers (big_vision, transformers and open_clip agree),
# the usual ViT sizes in between, and two small ones that train on two CPU cores.
VARIANTS = {
    "Pico": {"hidden_dim": 64, "num_layers": 2, "intermediate_dim": 256, "num_heads": 2},
    "Nano": {
        "hidden_dim": 128,
        "num_layers": 4,
        "text_num_layers": 2,
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
        raise ValueError(
            f"`variant` must look like 'NAME/PATCH' (e.g. 'B/16'), got {variant!r}."
        )
    name, patch = variant.split("/")
    if name not in VARIANTS:
        raise ValueError(
            f"Unknown variant name {name!r} in {variant!r}; expected one of "
            f"{sorted(VARIANTS)}."
        )
    if not patch.isdigit() or int(patch) < 1:
        raise ValueError(
            f"The patch size in `variant` {variant!r} must be a positive integer, "
            f"got {patch!r}."
        )
    sizes = dict(VARIANTS[name])
    text_num_layers = sizes.pop("text_num_layers", sizes["num_layers"])
    return {
        "image": dict(sizes),
        "text": {**sizes, "num_layers": text_num_layers},
        "patch_size": int(patch),
    }
