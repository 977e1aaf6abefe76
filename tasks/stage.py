"""What every curriculum stage does around its own work.

A stage whose output is already in the store (and parses) is reused, not recomputed: that
is how a resumed run skips what finished before a crash. Otherwise the stage runs under its
own derived seed and is recorded in the run's audit trail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

from edco.config.schema import EdcoConfig
from edco.errors import EdcoError
from edco.faultpoints import fault_point
from edco.models.environment import environment
from edco.seeds import derive_seed, seed_everything
from edco.storage.store import RunStore

StageBody = Callable[[RunStore, EdcoConfig, int, "StageClock"], Path]
"""(store, config, interval, clock) -> the written output."""


@dataclass(frozen=True)
class StageProgress:
    """Where a running stage stands; `done == total` with `finished` once its output is written."""

    run: str
    interval: int
    stage: str
    done: int
    total: int
    seconds: float
    finished: bool = False


PROGRESS_LISTENERS: list[Callable[[StageProgress], None]] = []
"""Who shows progress (the CLI's bars or lines); stages only report it."""


class StageClock:
    """Elapsed time for the output's metadata, and a progress hook with a mid-stage fault point."""

    def __init__(self, run: str, stage: str, interval: int) -> None:
        self.run, self.stage, self.interval, self.start = run, stage, interval, time.perf_counter()
        self.model_io = 0.0
        self._quarter = 0
        self._logger = _logger()
        self.last = (0, 1)

    def seconds(self) -> float:
        return time.perf_counter() - self.start

    @contextmanager
    def timing_model_io(self) -> Iterator[None]:
        """Counts the enclosed seconds as model I/O (loading weights, writing the checkpoint): a
        cost of running each stage on its own, which compute accounting keeps apart from the
        stage's compute, and which grows with the model (seconds for 135M, tens of seconds for 8B)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.model_io += time.perf_counter() - start

    def timing(self) -> dict[str, float]:
        """What a stage's last output records: its seconds, and how many of them were model I/O."""
        return {"seconds": self.seconds(), "model_io_seconds": self.model_io}

    def progress(self, done: int, total: int) -> None:
        """Tells the listeners; logs each completed quarter of the stage; halfway is the mid-stage fault point."""
        self.last = (done, total)
        self._tell(done, total)
        quarter = 4 * done // max(total, 1)
        if quarter <= self._quarter:
            return
        if self._quarter < 2 <= quarter:
            fault_point(f"{self.stage}.mid@{self.interval}")
        self._quarter = quarter
        self._logger.info("interval %d %s: %d/%d (%.0f s)", self.interval, self.stage, done, total, self.seconds())

    def finish(self) -> None:
        self._tell(*self.last, finished=True)

    def _tell(self, done: int, total: int, finished: bool = False) -> None:
        for listener in PROGRESS_LISTENERS:
            listener(StageProgress(self.run, self.interval, self.stage, done, total, self.seconds(), finished))


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:  # called outside a Prefect run, e.g. through task.fn()
        return logging.getLogger("edco.tasks")


def run_stage(run_dir: str, interval: int, stage: str, body: StageBody) -> str:
    store = RunStore(run_dir)
    if store.stage_readable(interval, stage):
        store.log_stage(interval, stage, "reused")
        return str(store.stage_path(interval, stage))
    cfg = store.config()
    seed_everything(derive_seed(cfg.seed, interval, stage))
    store.log_stage(interval, stage, "started", environment=environment())
    fault_point(f"{stage}.start@{interval}")
    clock = StageClock(store.name, stage, interval)
    path = body(store, cfg, interval, clock)
    store.log_stage(interval, stage, "finished", clock.seconds())
    clock.finish()
    fault_point(f"{stage}.end@{interval}")
    return str(path)


def is_transient(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's retry_condition_fn signature
    """Retry I/O hiccups; never retry bad input or a bug, which would fail the same way again."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, OSError) and not isinstance(exc, EdcoError)


RETRIES: dict = {"retries": 2, "retry_delay_seconds": 1, "retry_condition_fn": is_transient}
