"""Evaluate stage: held-out accuracy plus the interval's diagnostics, gathered into metrics.json."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import task

from edco.config.schema import EdcoConfig
from edco.evaluation.accuracy import predict
from edco.evaluation.metrics import accuracies, answer_spread, interval_metrics
from edco.models.loading import load_model, load_tokenizer
from edco.storage.store import RunStore
from edco.tasks.stage import RETRIES, StageClock, run_stage


def _evaluate(store: RunStore, cfg: EdcoConfig, interval: int, clock: StageClock) -> Path:
    eval_set = store.eval_set()
    with clock.timing_model_io():
        tokenizer = load_tokenizer(cfg.model)
    if cfg.evaluation.after(interval, cfg.curriculum.intervals):
        held_out = _held_out(store, cfg, interval, tokenizer, eval_set, clock)
    else:
        held_out = {"evaluate_tokens": 0}
        clock.progress(0, 0)  # nothing to evaluate: "0/0", not a stage stuck at 0 of 1
    metrics = interval_metrics(
        run=store.name,
        interval=interval,
        held_out=held_out,
        base=_base(store, cfg, interval, tokenizer, eval_set),
        eval_size=len(eval_set),
        scores=store.read_table(interval, "select"),
        score_info=store.score_info(interval),
        train_stats=store.train_stats(interval),
        stage_timing=_stage_timing(store, interval),
        evaluate_timing=clock.timing(),
    )
    return store.write_metrics(interval, metrics)


def _held_out(
    store: RunStore,
    cfg: EdcoConfig,
    interval: int,
    tokenizer: Any,
    eval_set: pa.Table,
    clock: StageClock,
) -> dict[str, Any]:
    """The fine-tuned model's accuracies, the spread of its answers and the tokens read. The
    intervals `evaluation.every` skips have no accuracy at all rather than a made-up one."""
    with clock.timing_model_io():
        model = load_model(cfg.model, store.checkpoint_dir(interval))
    predictions = predict(model, tokenizer, eval_set, cfg.evaluation.batch_size, clock.progress)
    return {
        **accuracies(predictions, eval_set, cfg.evaluation.method),
        **answer_spread(predictions.by(cfg.evaluation.method)),
        "evaluate_tokens": predictions.tokens,
    }


def _stage_timing(store: RunStore, interval: int) -> dict[str, float]:
    """`score_seconds`, `score_model_io_seconds`, ...: each earlier stage's seconds, and the share
    spent on model I/O."""
    return {
        f"{stage}_{key}": value
        for stage in ("score", "select", "train")
        for key, value in store.stage_timing(interval, stage).items()
    }


def _base(store: RunStore, cfg: EdcoConfig, interval: int, tokenizer: Any, eval_set: pa.Table) -> dict[str, float]:
    """The starting model's accuracies, measured once (in interval 0) and carried by every interval.

    The result depends only on the model, the eval set and the evaluation settings, so runs of
    one store that share them (the members of a comparison) share one measurement.
    """
    if interval > 0:
        return {k: v for k, v in store.metrics(0).items() if k.startswith("base_") and k.endswith("accuracy")}
    key = {
        "model": cfg.model.model_dump(mode="json", exclude={"lora", "train_dtype"}),
        "evaluation": cfg.evaluation.model_dump(exclude={"every"}),  # how often changes no measurement
        "eval_set": store.info()["files"]["eval.parquet"],
    }
    start = time.perf_counter()

    def measure() -> dict[str, float]:
        predictions = predict(load_model(cfg.model), tokenizer, eval_set, cfg.evaluation.batch_size)
        return accuracies(predictions, eval_set, cfg.evaluation.method, "base_")

    return {**store.shared_result("base_eval", key, measure), "base_evaluate_seconds": time.perf_counter() - start}


@task(name="evaluate", **RETRIES)
def evaluate(run_dir: str, interval: int) -> str:
    """Held-out accuracy of the interval's fine-tuned model (and of the base model, in interval 0)."""
    return run_stage(run_dir, interval, "evaluate", _evaluate)
