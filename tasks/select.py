"""Select-top-N stage: rank the scored pool with the configured strategy and keep the N best."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from prefect import task

from edco.config.schema import EdcoConfig
from edco.seeds import derive_seed
from edco.selection import strategies
from edco.storage.store import RunStore
from edco.tasks.stage import RETRIES, StageClock, run_stage


def _select(store: RunStore, cfg: EdcoConfig, interval: int, clock: StageClock) -> Path:
    scores = store.read_table(interval, "score")
    pool = store.pool()
    category = dict(zip(pool["id"].to_pylist(), pool["category"].to_pylist()))
    ranked, state = strategies.select(
        strategies.SelectionInput(
            scores=scores,
            n=strategies.interval_top_n(cfg, len(scores)),
            seed=derive_seed(cfg.seed, interval, "select"),
            interval=interval,
            cfg=cfg.selection,
            categories=[category[i] for i in scores["sample_id"].to_pylist()],
            state=store.selection_state(interval - 1) if interval else {},
            sample_gain=store.train_stats(interval - 1)["sample_gain"] if interval else {},
        ),
        cfg.selection.strategy,
    )
    clock.progress(1, 1)
    store.write_selection_state(interval, state)
    ranked = ranked.add_column(0, "interval", pa.array([interval] * len(ranked), pa.int32()))
    ranked = ranked.add_column(0, "run", pa.array([store.name] * len(ranked), pa.string()))
    return store.write_table(interval, "select", ranked, clock.timing())


@task(name="select", **RETRIES)
def select(run_dir: str, interval: int) -> str:
    """Rank the scored pool with the configured strategy and mark the top N as selected."""
    return run_stage(run_dir, interval, "select", _select)
