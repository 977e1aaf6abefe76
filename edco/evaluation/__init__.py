"""Held-out accuracy, the selection diagnostics, and the per-interval metrics record that SQL,
MLflow and the plots read."""

from edco.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "accuracy": ["METHODS", "Predictions", "predict"],
        "diagnostics": ["gradient_consistency", "last_block_params"],
        "metrics": ["accuracies", "answer_spread", "interval_metrics"],
    },
)
