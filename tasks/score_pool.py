"""Score-pool stage: inference entropy of every pool sample under the interval's starting model."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from edco.config import EdcoConfig
from edco.entropy import score_table
from edco.models import load_model, load_tokenizer
from storage.store import RunStore
from tasks.stage import RETRIES, StageClock, run_stage


def _score(store: RunStore, cfg: EdcoConfig, interval: int, clock: StageClock) -> Path:
    model = load_model(cfg.model, store.model_checkpoint(interval))
    table = score_table(model, load_tokenizer(cfg.model), store.pool(), cfg.scoring, clock.progress)
    return store.write_table(interval, "score", table, clock.seconds())


@task(name="score-pool", **RETRIES)
def score_pool(run_dir: str, interval: int) -> str:
    """Entropy of every pool sample under the model that interval `interval` starts from."""
    return run_stage(run_dir, interval, "score", _score)
