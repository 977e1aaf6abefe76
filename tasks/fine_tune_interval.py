"""Fine-tune stage: SFT on the interval's selection; its checkpoint starts the next interval."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
from prefect import task

from edco.config import EdcoConfig
from edco.models import load_model, load_tokenizer, save_weights
from edco.seeds import derive_seed
from edco.training import sft
from storage.store import RunStore
from tasks.stage import RETRIES, StageClock, run_stage


def _train(store: RunStore, cfg: EdcoConfig, interval: int, clock: StageClock) -> Path:
    model = load_model(cfg.model, store.model_checkpoint(interval))
    scores = store.read_table(interval, "select")
    chosen = scores.filter(scores["selected"])["sample_id"]
    pool = store.pool()
    records = pool.filter(pc.is_in(pool["id"], value_set=chosen))
    stats = sft(model, load_tokenizer(cfg.model), records, cfg.training, derive_seed(cfg.seed, interval, "train"), clock.progress)
    metadata = {"edco.seconds": f"{clock.seconds():.6f}", "train_loss": repr(stats.loss),
                "steps": str(stats.steps), "grad_norm": repr(stats.grad_norm)}
    return store.write_checkpoint(interval, lambda tmp: save_weights(model, tmp, metadata))


@task(name="fine-tune-interval", **RETRIES)
def fine_tune_interval(run_dir: str, interval: int) -> str:
    """SFT on the interval's selected samples; the checkpoint is the next interval's model."""
    return run_stage(run_dir, interval, "train", _train)
