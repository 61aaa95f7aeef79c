"""Convert any source `SigLIP.from_preset` reads into a keras_siglip preset directory."""

from keras_siglip.model import SigLIP
from keras_siglip.preprocessing import SigLIPPreprocessor
from keras_siglip.presets import registry

__all__ = ["convert_to_preset"]


def convert_to_preset(source, output_dir):
    """Load `source` as `SigLIP.from_preset` does and save it, with its tokenizer when
    it has one, as a keras_siglip preset directory (what `keras-siglip convert` does).

    Args:
        source: a builtin preset name, a local checkpoint path (transformers,
            keras-hub, big_vision `.npz`) or an `hf://` / `kaggle://` handle.
        output_dir: the preset directory to write.

    Returns:
        The loaded `SigLIP`.
    """
    kind, location = registry.local_source(source)
    print(f"Reading {source} ({registry.KINDS[kind]}) ...", flush=True)
    model = SigLIP.from_preset(location)
    try:
        preprocessor = SigLIPPreprocessor.from_preset(location)
    except (ValueError, FileNotFoundError) as error:
        preprocessor = None
        print(f"  no tokenizer saved: {error}")
    model.save_to_preset(
        output_dir,
        preprocessor=preprocessor,
        description=f"Converted from {source}.",
        metadata={"converted_from": source, "source_format": kind},
    )
    print(
        f"Wrote {output_dir}: {model.count_params():,} parameters; load it with "
        f"SigLIP.from_preset({output_dir!r})."
    )
    return model
