"""The per-interval metrics record (`metrics.json`): one flat dict per interval that the SQL
`metrics` view, MLflow and the plots all read, so its fields are defined here once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa

from edco.data.prompts import LETTERS
from edco.evaluation.accuracy import METHODS, Predictions, accuracy


def interval_metrics(
    *,
    run: str,
    interval: int,
    metric: str,
    held_out: dict[str, Any],
    base: dict[str, Any],
    eval_size: int,
    scores: pa.Table,
    score_info: dict[str, Any],
    train_stats: dict[str, Any],
    stage_timing: dict[str, float],
    evaluate_timing: dict[str, float],
) -> dict[str, Any]:
    """The record of one interval: its fields in the order `metrics.json` has always had them, after
    the headline metric's name (`metric`)."""
    return {
        "run": run,
        "interval": interval,
        "metric": metric,
        **held_out,
        **base,
        "eval_size": eval_size,
        **signal_means(scores),
        "score_tokens": sum(scores["model_tokens"].to_pylist()),
        **rescoring_summary(score_info),
        "train_steps": train_stats["steps"],
        **train_stats["summary"],
        **train_stats["diagnostics"],
        **stage_timing,
        **{f"evaluate_{key}": value for key, value in evaluate_timing.items()},
    }


def accuracies(predictions: Predictions, eval_set: pa.Table, method: str, prefix: str = "") -> dict[str, float]:
    """`accuracy` by the configured readout, and every readout's own."""
    return {
        f"{prefix}accuracy": accuracy(predictions.by(method), eval_set),
        **{f"{prefix}{m}_accuracy": accuracy(predictions.by(m), eval_set) for m in METHODS},
    }


def rescoring_summary(info: dict[str, Any]) -> dict[str, Any]:
    """How much of the pool the score stage measured again, and the calibrated prefix length (0: full mode)."""
    out = {"rescored_samples": info.get("rescored"), "score_movement_spearman": info.get("movement_spearman")}
    if "calibration" in info:
        out["calibrated_prefix_tokens"] = info["calibration"]["choice"].get("prefix_tokens", 0)
    return out


def answer_spread(predictions: list[int]) -> dict[str, Any]:
    """Which letters the model answers: a model collapsed onto one letter scores that letter's share."""
    counts = Counter(LETTERS[p] for p in predictions)
    return {
        "predicted_letters": " ".join(f"{letter}:{counts[letter]}" for letter in sorted(counts)),
        "top_answer_share": max(counts.values()) / len(predictions),
    }


def signal_means(scores: pa.Table) -> dict[str, Any]:
    """Mean signal of the selection and of the pool (None for strategies that measure nothing)."""
    selected = [s for s, chosen in zip(scores["score"].to_pylist(), scores["selected"].to_pylist()) if chosen]
    mean = lambda xs: None if not xs or None in xs else sum(xs) / len(xs)  # noqa: E731
    return {
        "signal": scores["signal"][0].as_py(),
        "selected": len(selected),
        "selected_signal_mean": mean(selected),
        "pool_signal_mean": mean(scores["score"].to_pylist()),
    }
