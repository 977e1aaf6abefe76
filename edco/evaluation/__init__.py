"""Held-out accuracy, free-form answer metrics and the judge, the headline metric, the selection
diagnostics, and the per-interval metrics record that SQL, MLflow and the plots read."""

from edco.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "accuracy": ["METHODS", "Predictions", "predict"],
        "diagnostics": ["gradient_consistency", "last_block_params"],
        "freeform": ["free_form_metrics", "greedy_answers", "reference_nlls"],
        "headline": ["best_of", "better", "check_metric", "headline", "headline_metric"],
        "judge": ["Judge", "JudgeError", "Question", "acceptance", "parse_verdict"],
        "overlap": ["exact_match", "rouge_l", "token_f1"],
        "metrics": ["accuracies", "answer_spread", "interval_metrics"],
    },
)
