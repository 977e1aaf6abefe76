"""Tracking as tasks: the tracking database can be briefly locked, so these retry."""

from __future__ import annotations

from prefect import task

from edco.storage.store import RunStore
from edco.tasks.stage import RETRIES
from edco.tracking.mlflow_runs import MlflowTracker


@task(name="track-run", **RETRIES)
def track_run(run_dir: str, parent_run_id: str | None = None) -> str:
    return MlflowTracker(RunStore(run_dir), parent_run_id).start()


@task(name="track-interval", **RETRIES)
def track_interval(run_dir: str, interval: int) -> int:
    return MlflowTracker(RunStore(run_dir)).log_interval(interval)


@task(name="track-finish", **RETRIES)
def track_finish(run_dir: str, final_interval: int) -> None:
    MlflowTracker(RunStore(run_dir)).finish(final_interval)


@task(name="track-failure", **RETRIES)
def track_failure(run_dir: str) -> None:
    MlflowTracker(RunStore(run_dir)).fail()
