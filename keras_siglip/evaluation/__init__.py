"""Evaluation of trained models: retrieval recall@k."""

from keras_siglip.evaluation.retrieval import recall_at_k, retrieval_metrics

__all__ = ["recall_at_k", "retrieval_metrics"]
