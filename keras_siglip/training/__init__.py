"""Training beyond `SigLIP.fit`: SigLiT at very large batches; fine-tuning from a preset,
resumable checkpoints and progress lines for a training job."""

from keras_siglip.training.checkpoints import (
    CheckpointCallback,
    ResumableBatches,
    checkpoint_directory,
    latest_checkpoint,
    restore,
    resume_fit_arguments,
    save_checkpoint,
)
from keras_siglip.training.fine_tune import prepare_fine_tuning
from keras_siglip.training.gradient_cache import GradientCachedSigLiT
from keras_siglip.training.image_embedding_cache import cache_image_embeddings
from keras_siglip.training.progress import TrainingProgress

__all__ = [
    "CheckpointCallback",
    "GradientCachedSigLiT",
    "ResumableBatches",
    "TrainingProgress",
    "cache_image_embeddings",
    "checkpoint_directory",
    "latest_checkpoint",
    "prepare_fine_tuning",
    "restore",
    "resume_fit_arguments",
    "save_checkpoint",
]
