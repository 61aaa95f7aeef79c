"""Converters from other libraries' SigLIP checkpoints to `keras_siglip.SigLIP`."""
