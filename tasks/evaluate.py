"""Evaluate stage: held-out accuracy plus the interval's diagnostics, gathered into metrics.json."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
from prefect import task

from edco.config import EdcoConfig
from edco.evaluation import accuracy, predict_choices
from edco.models import load_model, load_tokenizer
from storage.store import RunStore
from tasks.stage import RETRIES, StageClock, run_stage


def _evaluate(store: RunStore, cfg: EdcoConfig, interval: int, clock: StageClock) -> Path:
    model = load_model(cfg.model, store.stage_path(interval, "train"))
    eval_set = store.eval_set()
    predictions = predict_choices(model, load_tokenizer(cfg.model), eval_set, cfg.scoring.batch_size, clock.progress)
    scores = store.read_table(interval, "select")
    trained = store.checkpoint_metadata(interval)
    metrics = {
        "run": store.name,
        "interval": interval,
        "accuracy": accuracy(predictions, eval_set),
        "eval_size": len(eval_set),
        "selected": int(pc.sum(scores["selected"]).as_py()),
        "selected_entropy_mean": pc.mean(scores.filter(scores["selected"])["score"]).as_py(),
        "pool_entropy_mean": pc.mean(scores["score"]).as_py(),
        "train_loss": float(trained["train_loss"]),
        "train_steps": int(trained["steps"]),
        "grad_norm": float(trained["grad_norm"]),
        **{f"{stage}_seconds": store.stage_seconds(interval, stage) for stage in ("score", "select", "train")},
        "evaluate_seconds": clock.seconds(),
    }
    return store.write_metrics(interval, metrics)


@task(name="evaluate", **RETRIES)
def evaluate(run_dir: str, interval: int) -> str:
    """Held-out accuracy of the interval's fine-tuned model, plus the interval's diagnostics."""
    return run_stage(run_dir, interval, "evaluate", _evaluate)
