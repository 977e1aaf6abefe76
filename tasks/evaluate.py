"""Evaluate stage: held-out accuracy (or the free-form metrics) plus the interval's diagnostics,
gathered into metrics.json."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import task

from edco.config.schema import EdcoConfig
from edco.data.kinds import kind_of
from edco.evaluation.accuracy import predict
from edco.evaluation.freeform import free_form_metrics
from edco.evaluation.headline import headline_metric
from edco.evaluation.items import choice_items, item_table
from edco.evaluation.metrics import accuracies, answer_spread, interval_metrics
from edco.models.loading import load_model, load_tokenizer
from edco.progress import Progress
from edco.storage.store import RunStore
from edco.storage.verdicts import store_judge
from edco.tasks.stage import RETRIES, StageClock, run_stage


def _evaluate(store: RunStore, cfg: EdcoConfig, interval: int, clock: StageClock) -> Path:
    eval_set = store.eval_set()
    with clock.timing_model_io():
        tokenizer = load_tokenizer(cfg.model)
    measure = _measure(store, cfg, interval, tokenizer, eval_set)
    if cfg.evaluation.after(interval, cfg.curriculum.intervals):
        with clock.timing_model_io():
            model = load_model(cfg.model, store.checkpoint_dir(interval))
        held_out = measure(model, clock.progress)
    else:
        held_out = {"evaluate_tokens": 0}
        clock.progress(0, 0)  # nothing to evaluate: "0/0", not a stage stuck at 0 of 1
    metric = headline_metric(cfg, kind_of(eval_set))
    trained_items = held_out.pop("items", None)
    base = _base(store, cfg, interval, measure, eval_set)
    base_items = base.pop("base_items", None)  # measured in interval 0, stored with its items only
    store.write_eval_items(interval, item_table(store.name, interval, metric, trained_items, base_items))
    metrics = interval_metrics(
        run=store.name,
        interval=interval,
        metric=metric,
        held_out=held_out,
        base=base,
        eval_size=len(eval_set),
        scores=store.read_table(interval, "select"),
        score_info=store.score_info(interval),
        train_stats=store.train_stats(interval),
        stage_timing=_stage_timing(store, interval),
        evaluate_timing=clock.timing(),
    )
    return store.write_metrics(interval, metrics)


Measure = Callable[[Any, Progress | None], dict[str, Any]]


def _measure(store: RunStore, cfg: EdcoConfig, interval: int, tokenizer: Any, eval_set: pa.Table) -> Measure:
    """The held-out measurement of a model, by the eval set's kind: the accuracies and the spread of
    the answers of choice records, the free-form metrics (and the judge's verdicts, cached in the
    store) of the others; each with the tokens it read."""
    if kind_of(eval_set) != "choice":
        judge = store_judge(cfg, store.run_dir.parent, store.name, interval)
        return lambda model, progress: free_form_metrics(model, tokenizer, eval_set, cfg.evaluation, judge, progress)

    def choice(model: Any, progress: Progress | None) -> dict[str, Any]:
        predictions = predict(model, tokenizer, eval_set, cfg.evaluation.batch_size, progress)
        return {
            **accuracies(predictions, eval_set, cfg.evaluation.method),
            **answer_spread(predictions.by(cfg.evaluation.method)),
            "evaluate_tokens": predictions.tokens,
            "items": choice_items(predictions, eval_set, cfg.evaluation.method),
        }

    return choice


def _stage_timing(store: RunStore, interval: int) -> dict[str, float]:
    """`score_seconds`, `score_model_io_seconds`, ...: each earlier stage's seconds, and the share
    spent on model I/O."""
    return {
        f"{stage}_{key}": value
        for stage in ("score", "select", "train")
        for key, value in store.stage_timing(interval, stage).items()
    }


_NOT_BASE = ("evaluate_tokens", "predicted_letters", "top_answer_share")  # the held-out record's other fields


def _base(store: RunStore, cfg: EdcoConfig, interval: int, measure: Measure, eval_set: pa.Table) -> dict[str, Any]:
    """The starting model's metrics (`base_accuracy`, `base_reference_nll`, ...), measured once (in
    interval 0) and carried by every interval; in interval 0 also its per-item results (`base_items`).

    The result depends only on the model, the eval set and the evaluation settings (and the judge),
    so runs of one store that share them (the members of a comparison) share one measurement.
    """
    if interval > 0:
        return {k: v for k, v in store.metrics(0).items() if k.startswith("base_") and k != "base_evaluate_seconds"}
    key = {
        "model": cfg.model.model_dump(mode="json", exclude={"lora", "train_dtype"}),
        "evaluation": cfg.evaluation.model_dump(exclude={"every", "metric"}),  # they change no measurement
        "eval_set": store.info()["files"]["eval.parquet"],
        "items": 1,  # results shared before per-item results were kept have none: measured again
    }
    if kind_of(eval_set) == "choice":  # keys as stores made before free-form kinds, which they share
        key["evaluation"] = cfg.evaluation.model_dump(include={"method", "batch_size"})
    elif cfg.judge is not None:
        key["judge"] = cfg.judge.model_dump(include={"model", "rubric", "max_tokens"})
    start = time.perf_counter()

    def measured() -> dict[str, Any]:
        return {f"base_{k}": v for k, v in measure(load_model(cfg.model), None).items() if k not in _NOT_BASE}

    return {**store.shared_result("base_eval", key, measured), "base_evaluate_seconds": time.perf_counter() - start}


@task(name="evaluate", **RETRIES)
def evaluate(run_dir: str, interval: int) -> str:
    """Held-out accuracy of the interval's fine-tuned model (and of the base model, in interval 0)."""
    return run_stage(run_dir, interval, "evaluate", _evaluate)
