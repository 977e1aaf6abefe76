"""MLflow tracking of curriculum runs: one MLflow run per curriculum run, one step per interval.

Logging is idempotent so that a resumed run can call it again for every finished interval:
the MLflow run is found by the curriculum run's uid tag (never created twice), and a metric
step already present is not logged again.
"""

from __future__ import annotations

import time
from pathlib import Path

from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient

from edco.config import EdcoConfig, flatten
from edco.faults import fault_point
from storage.lock import exclusive
from storage.store import RunStore

INTERVAL_METRICS = (
    "accuracy", "selected_entropy_mean", "pool_entropy_mean", "train_loss", "grad_norm",
    "score_seconds", "select_seconds", "train_seconds", "evaluate_seconds",
)


def tracking_uri(cfg: EdcoConfig) -> str:
    """The configured URI, or a SQLite file inside the store: a real backend with no server."""
    return cfg.mlflow.tracking_uri or f"sqlite:///{Path(cfg.storage.root).resolve() / 'mlflow.db'}"


def _client(cfg: EdcoConfig) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri(cfg))


def _experiment_id(client: MlflowClient, cfg: EdcoConfig) -> str:
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is not None:
        return experiment.experiment_id
    artifacts = (Path(cfg.storage.root).resolve() / "mlartifacts").as_uri()
    return client.create_experiment(cfg.mlflow.experiment, artifact_location=artifacts)


def ensure_run(store: RunStore, cfg: EdcoConfig) -> str:
    """The MLflow run id of this curriculum run (created on first call), marked RUNNING.

    Serialised across processes: two runs starting in a fresh store would otherwise both
    create the SQLite schema (and the experiment) at once.
    """
    with exclusive(Path(cfg.storage.root) / ".locks" / "mlflow.lock"):
        return _find_or_create_run(store, cfg)


def find_run(store: RunStore, cfg: EdcoConfig) -> str | None:
    """The MLflow run id of this curriculum run, if it has one yet; changes nothing."""
    client = _client(cfg)
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is None:
        return None
    uid = store.info()["uid"]
    found = client.search_runs([experiment.experiment_id], filter_string=f"tags.`edco.uid` = '{uid}'", max_results=1)
    return found[0].info.run_id if found else None


def _find_or_create_run(store: RunStore, cfg: EdcoConfig) -> str:
    client = _client(cfg)
    run_id = find_run(store, cfg)
    if run_id is not None:
        client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))  # resumed, maybe after a failure
        return run_id
    run = client.create_run(
        _experiment_id(client, cfg), run_name=store.name,
        tags={"edco.uid": store.info()["uid"], "edco.run_dir": str(store.run_dir.resolve())},
    )
    params = [Param(k, str(v)[:6000]) for k, v in flatten(cfg.identity()).items()]
    for start in range(0, len(params), 100):
        client.log_batch(run.info.run_id, params=params[start : start + 100])
    return run.info.run_id


def log_interval(store: RunStore, cfg: EdcoConfig, run_id: str, interval: int) -> int:
    """Log one finished interval's metrics and score table; returns how many metrics were new."""
    client = _client(cfg)
    metrics = store.metrics(interval)
    now = int(time.time() * 1000)
    fresh = [
        Metric(key, float(metrics[key]), now, interval)
        for key in INTERVAL_METRICS
        if key in metrics and interval not in {m.step for m in client.get_metric_history(run_id, key)}
    ]
    if fresh:
        client.log_batch(run_id, metrics=fresh)
    fault_point(f"mlflow.log@{interval}")
    folder = store.interval_dir(interval).name
    if not client.list_artifacts(run_id, folder):
        client.log_artifact(run_id, str(store.stage_path(interval, "select")), folder)
    return len(fresh)


def finish_run(store: RunStore, cfg: EdcoConfig, run_id: str, final_interval: int) -> None:
    """Upload the final checkpoint once per final interval (a run extended with --force uploads
    its new one; re-entering a finished run uploads nothing) and mark the run finished."""
    client = _client(cfg)
    if client.get_run(run_id).data.tags.get("edco.final_interval") != str(final_interval):
        client.log_artifact(run_id, str(store.stage_path(final_interval, "train")), "final_checkpoint")
        client.set_tag(run_id, "edco.final_interval", str(final_interval))
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))


def fail_run(cfg: EdcoConfig, run_id: str) -> None:
    """Show a run that stopped on an error as FAILED in the MLflow UI until it is resumed."""
    _client(cfg).set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))


def metric_history(cfg: EdcoConfig, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in _client(cfg).get_metric_history(run_id, key)]
