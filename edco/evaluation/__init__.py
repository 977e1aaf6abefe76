"""Held-out accuracy, the selection diagnostics, and the per-interval metrics record that SQL,
MLflow and the plots read."""

from edco.evaluation.accuracy import METHODS, Predictions, predict
from edco.evaluation.diagnostics import gradient_consistency, last_block_params
from edco.evaluation.metrics import accuracies, answer_spread, interval_metrics

__all__ = [
    "METHODS",
    "Predictions",
    "accuracies",
    "answer_spread",
    "gradient_consistency",
    "interval_metrics",
    "last_block_params",
    "predict",
]
