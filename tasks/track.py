"""MLflow logging as tasks: the tracking database can be briefly locked, so these retry."""

from __future__ import annotations

from prefect import task

from storage import tracking
from storage.store import RunStore
from tasks.stage import RETRIES


@task(name="track-run", **RETRIES)
def track_run(run_dir: str) -> str:
    store = RunStore(run_dir)
    return tracking.ensure_run(store, store.config())


@task(name="track-interval", **RETRIES)
def track_interval(run_dir: str, run_id: str, interval: int) -> int:
    store = RunStore(run_dir)
    return tracking.log_interval(store, store.config(), run_id, interval)


@task(name="track-finish", **RETRIES)
def track_finish(run_dir: str, run_id: str, final_interval: int) -> None:
    store = RunStore(run_dir)
    tracking.finish_run(store, store.config(), run_id, final_interval)


@task(name="track-failure", **RETRIES)
def track_failure(run_dir: str, run_id: str) -> None:
    tracking.fail_run(RunStore(run_dir).config(), run_id)
