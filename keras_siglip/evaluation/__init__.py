"""Evaluation of trained models: retrieval recall@k, zero-shot classification, callbacks."""

from keras_siglip.evaluation.callbacks import RetrievalEvaluation, ZeroShotEvaluation
from keras_siglip.evaluation.embedding import (
    augmented_image_encoder,
    compiled_encoder,
    embed_in_batches,
)
from keras_siglip.evaluation.retrieval import RetrievalRecall, recall_at_k, retrieval_metrics
from keras_siglip.evaluation.validation import held_out_retrieval_metrics, preprocessed_batches
from keras_siglip.evaluation.zero_shot import DEFAULT_TEMPLATES, ZeroShotClassifier

__all__ = [
    "DEFAULT_TEMPLATES",
    "RetrievalEvaluation",
    "RetrievalRecall",
    "ZeroShotClassifier",
    "ZeroShotEvaluation",
    "embed_in_batches",
    "held_out_retrieval_metrics",
    "preprocessed_batches",
    "recall_at_k",
    "retrieval_metrics",
    "augmented_image_encoder",
    "compiled_encoder",
]
