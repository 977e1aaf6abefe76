"""Evaluate stage: held-out accuracy plus the interval's diagnostics, gathered into metrics.json."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import task

from edco.config import EdcoConfig
from edco.evaluation import METHODS, Predictions, accuracy, predict
from edco.models import load_model, load_tokenizer
from edco.prompts import LETTERS
from storage.store import RunStore
from tasks.stage import RETRIES, StageClock, run_stage


def _evaluate(store: RunStore, cfg: EdcoConfig, interval: int, clock: StageClock) -> Path:
    eval_set = store.eval_set()
    with clock.timing_model_io():
        tokenizer = load_tokenizer(cfg.model)
    if cfg.evaluation.after(interval, cfg.curriculum.intervals):
        held_out = _held_out(store, cfg, interval, tokenizer, eval_set, clock)
    else:
        held_out = {"evaluate_tokens": 0}
        clock.progress(0, 0)  # nothing to evaluate: "0/0", not a stage stuck at 0 of 1
    trained = store.train_stats(interval)
    scores = store.read_table(interval, "select")
    metrics = {
        "run": store.name,
        "interval": interval,
        **held_out,
        **_base(store, cfg, interval, tokenizer, eval_set),
        "eval_size": len(eval_set),
        **_signal_means(scores),
        "score_tokens": sum(scores["model_tokens"].to_pylist()),
        **_rescoring(store.score_info(interval)),
        "train_steps": trained["steps"],
        **trained["summary"],
        **trained["diagnostics"],
        **_stage_timing(store, interval),
        **{f"evaluate_{key}": value for key, value in clock.timing().items()},
    }
    return store.write_metrics(interval, metrics)


def _held_out(
    store: RunStore, cfg: EdcoConfig, interval: int, tokenizer: Any, eval_set: pa.Table, clock: StageClock,
) -> dict[str, Any]:
    """The fine-tuned model's accuracies, the spread of its answers and the tokens read. The
    intervals `evaluation.every` skips have no accuracy at all rather than a made-up one."""
    with clock.timing_model_io():
        model = load_model(cfg.model, store.checkpoint_dir(interval))
    predictions = predict(model, tokenizer, eval_set, cfg.evaluation.batch_size, clock.progress)
    return {
        **_accuracies(predictions, eval_set, cfg.evaluation.method),
        **_answer_spread(predictions.by(cfg.evaluation.method)),
        "evaluate_tokens": predictions.tokens,
    }


def _stage_timing(store: RunStore, interval: int) -> dict[str, float]:
    """`score_seconds`, `score_model_io_seconds`, ...: each earlier stage's seconds, and the share spent on model I/O."""
    return {
        f"{stage}_{key}": value
        for stage in ("score", "select", "train")
        for key, value in store.stage_timing(interval, stage).items()
    }


def _accuracies(predictions: Predictions, eval_set: pa.Table, method: str, prefix: str = "") -> dict[str, float]:
    """`accuracy` by the configured readout, and every readout's own."""
    return {
        f"{prefix}accuracy": accuracy(predictions.by(method), eval_set),
        **{f"{prefix}{m}_accuracy": accuracy(predictions.by(m), eval_set) for m in METHODS},
    }


def _base(store: RunStore, cfg: EdcoConfig, interval: int, tokenizer: Any, eval_set: pa.Table) -> dict[str, float]:
    """The starting model's accuracies, measured once (in interval 0) and carried by every interval.

    The result depends only on the model, the eval set and the evaluation settings, so runs of
    one store that share them (the members of a comparison) share one measurement.
    """
    if interval > 0:
        return {k: v for k, v in store.metrics(0).items() if k.startswith("base_") and k.endswith("accuracy")}
    key = {"model": cfg.model.model_dump(mode="json", exclude={"lora", "train_dtype"}),
           "evaluation": cfg.evaluation.model_dump(exclude={"every"}),  # how often changes no measurement
           "eval_set": store.info()["files"]["eval.parquet"]}
    start = time.perf_counter()

    def measure() -> dict[str, float]:
        predictions = predict(load_model(cfg.model), tokenizer, eval_set, cfg.evaluation.batch_size)
        return _accuracies(predictions, eval_set, cfg.evaluation.method, "base_")

    return {**store.shared_result("base_eval", key, measure), "base_evaluate_seconds": time.perf_counter() - start}


def _rescoring(info: dict[str, Any]) -> dict[str, Any]:
    """How much of the pool the score stage measured again, and the calibrated prefix length (0: full mode)."""
    out = {"rescored_samples": info.get("rescored"), "score_movement_spearman": info.get("movement_spearman")}
    if "calibration" in info:
        out["calibrated_prefix_tokens"] = info["calibration"]["choice"].get("prefix_tokens", 0)
    return out


def _answer_spread(predictions: list[int]) -> dict[str, Any]:
    """Which letters the model answers: a model collapsed onto one letter scores that letter's share."""
    counts = Counter(LETTERS[p] for p in predictions)
    return {
        "predicted_letters": " ".join(f"{letter}:{counts[letter]}" for letter in sorted(counts)),
        "top_answer_share": max(counts.values()) / len(predictions),
    }


def _signal_means(scores: pa.Table) -> dict[str, Any]:
    """Mean signal of the selection and of the pool (None for strategies that measure nothing)."""
    selected = [s for s, chosen in zip(scores["score"].to_pylist(), scores["selected"].to_pylist()) if chosen]
    mean = lambda xs: None if not xs or None in xs else sum(xs) / len(xs)  # noqa: E731
    return {
        "signal": scores["signal"][0].as_py(),
        "selected": len(selected),
        "selected_signal_mean": mean(selected),
        "pool_signal_mean": mean(scores["score"].to_pylist()),
    }


@task(name="evaluate", **RETRIES)
def evaluate(run_dir: str, interval: int) -> str:
    """Held-out accuracy of the interval's fine-tuned model (and of the base model, in interval 0)."""
    return run_stage(run_dir, interval, "evaluate", _evaluate)
