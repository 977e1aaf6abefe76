"""What a store holds: its runs and where each stands, read from the files (for `edco runs`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edco.errors import StoreError
from edco.evaluation.headline import best_of
from edco.storage.lock import is_running
from edco.storage.store import MANIFEST, NO_RUN_HINT, RunStore


@dataclass(frozen=True)
class RunEntry:
    run: str
    status: str  # running | finished | stopped
    finished: int  # intervals sealed
    intervals: int
    metric: str  # the headline metric (`evaluation.metric`): accuracy, reference_nll, ...
    best: float | None  # its best value over the finished intervals, by its direction
    base: float | None
    strategy: str
    method: str


def list_runs(root: Path) -> list[RunEntry]:
    """Every run of the store, by name. Cheap: an interval counts as finished when its manifest
    exists (checksums are verified by resume, not by a listing). A store that does not exist is an
    error, not an empty listing: a mistyped --root would otherwise look like a store without runs."""
    if not Path(root).is_dir():
        raise StoreError(f"store {root} does not exist (or is not a folder)", hint=NO_RUN_HINT)
    return [_entry(RunStore(info.parent)) for info in sorted(Path(root).glob("*/run.json"))]


def _entry(store: RunStore) -> RunEntry:
    cfg = store.config()
    intervals = cfg.curriculum.intervals
    finished = [i for i in range(intervals) if (store.interval_dir(i) / MANIFEST).exists()]
    metric, values = store.headline_values(finished)
    best = best_of(values, metric)
    status = "running" if is_running(store.run_dir) else "finished" if len(finished) == intervals else "stopped"
    return RunEntry(
        run=store.name,
        status=status,
        finished=len(finished),
        intervals=intervals,
        metric=metric,
        best=None if best is None else values[best],
        base=store.metrics(finished[0]).get(f"base_{metric}") if finished else None,
        strategy=cfg.selection.strategy,
        method=cfg.training.method,
    )
