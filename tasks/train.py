"""Fine-tune stage: train on the interval's selection; its checkpoint starts the next interval."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import task

from edco import training
from edco.config.schema import EdcoConfig
from edco.evaluation.diagnostics import gradient_consistency, last_block_params
from edco.evaluation.judge import Judge
from edco.models.loading import load_model, load_tokenizer, save_checkpoint
from edco.seeds import derive_seed
from edco.storage.store import RunStore
from edco.storage.verdicts import VerdictStore
from edco.tasks.stage import RETRIES, StageClock, run_stage


def _train(store: RunStore, cfg: EdcoConfig, interval: int, clock: StageClock) -> Path:
    with clock.timing_model_io():
        model = load_model(cfg.model, store.model_checkpoint(interval), training=True)
        tokenizer = load_tokenizer(cfg.model)
    records = store.selected_records(interval)
    diagnostics = _selection_diagnostics(model, tokenizer, records, cfg, derive_seed(cfg.seed, interval, "train"))
    judge = Judge(cfg.judge, VerdictStore(store.run_dir.parent, store.name, interval)) if cfg.judge else None
    stats = training.train(model, tokenizer, records, cfg, interval, progress=clock.progress, judge=judge)
    with clock.timing_model_io():
        store.write_checkpoint(interval, lambda tmp: save_checkpoint(model, tokenizer, tmp))
    return store.write_train_stats(interval, {**stats.to_json(), "diagnostics": diagnostics}, clock.timing())


def _selection_diagnostics(model, tokenizer, records, cfg: EdcoConfig, seed: int) -> dict[str, float]:  # noqa: ANN001
    """Gradient direction consistency of the selection under the model about to train on it; timed
    apart so that compute accounting can tell it from training."""
    if not cfg.diagnostics.gradient_samples:
        return {}
    start = time.perf_counter()
    consistency, norm = gradient_consistency(
        model,
        tokenizer,
        records,
        cfg.diagnostics.gradient_samples,
        seed,
        params=last_block_params(model, cfg.diagnostics.gradient_blocks),
    )
    return {
        "gradient_consistency": consistency,
        "gradient_norm": norm,
        "diagnostics_seconds": time.perf_counter() - start,
    }


@task(name="train", **RETRIES)
def train(run_dir: str, interval: int) -> str:
    """Train (SFT or GRPO) on the interval's selected samples; the checkpoint is the next interval's model."""
    return run_stage(run_dir, interval, "train", _train)
