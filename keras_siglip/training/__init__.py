"""Training recipes beyond `SigLIP.fit`: SigLiT at very large batches."""

from keras_siglip.training.gradient_cache import GradientCachedSigLiT
from keras_siglip.training.image_embedding_cache import cache_image_embeddings

__all__ = ["GradientCachedSigLiT", "cache_image_embeddings"]
