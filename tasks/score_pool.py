"""Score-pool stage: the selection signal of every pool sample under the interval's starting model."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from prefect import task

from edco.config import EdcoConfig
from edco.models import load_model, load_tokenizer
from edco.selection import STRATEGIES
from edco.signals import SIGNALS
from storage.store import RunStore
from tasks.stage import RETRIES, StageClock, run_stage


def _score(store: RunStore, cfg: EdcoConfig, interval: int, clock: StageClock) -> Path:
    strategy = STRATEGIES[cfg.selection.strategy]
    if interval > 0 and not strategy.rescore:  # a static curriculum: measured once, by the base model
        table = store.read_table(0, "score")
        clock.progress(table.num_rows, table.num_rows)
        spent = table.schema.get_field_index("model_tokens")
        table = table.set_column(spent, "model_tokens", pa.array([0] * len(table), pa.int64()))  # nothing spent again
        return store.write_table(interval, "score", table, clock.seconds())
    signal = SIGNALS[strategy.signal]
    model = load_model(cfg.model, store.model_checkpoint(interval)) if signal.needs_model else None
    table = signal.measure(model, load_tokenizer(cfg.model), store.pool(), cfg.scoring, clock.progress)
    clock.progress(table.num_rows, table.num_rows)  # signals without a model (length, none) report nothing themselves
    return store.write_table(interval, "score", table, clock.seconds())


@task(name="score-pool", **RETRIES)
def score_pool(run_dir: str, interval: int) -> str:
    """The strategy's signal for every pool sample under the model that interval `interval` starts from."""
    return run_stage(run_dir, interval, "score", _score)
