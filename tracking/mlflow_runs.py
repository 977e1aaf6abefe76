"""MLflow tracking of curriculum runs: one MLflow run per curriculum run.

Per-interval metrics use step = interval; the trainer's per-step log (loss, learning rate,
gradient norm, GRPO's reward and KL) uses a global step that keeps counting across
intervals, so the UI shows one continuous curve per run rather than one run per trainer.
Logging is idempotent so that a resumed run can call it again for every finished interval:
the MLflow run is found by the curriculum run's uid tag (never created twice), and a metric
step already present is not logged again.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient

from edco.config.schema import EdcoConfig, flatten
from edco.faultpoints import fault_point
from edco.models.environment import describe
from edco.storage.files import DiskFullError, atomic_write, is_disk_full, size_text, tree_bytes, unwritable
from edco.storage.lock import exclusive
from edco.storage.report import INTERVAL_PLOTS as PLOTS
from edco.storage.report import interval_plots
from edco.storage.store import RunStore

NOT_METRICS = {"run", "interval"}
STEP_PREFIX = "train/"
_BATCH = 1000  # MLflow's limit of metrics per log_batch call


def tracking_uri(cfg: EdcoConfig) -> str:
    """The configured URI, or a SQLite file inside the store: a real backend with no server."""
    return cfg.mlflow.tracking_uri or f"sqlite:///{Path(cfg.storage.root).resolve() / 'mlflow.db'}"


def _experiment_id(client: MlflowClient, cfg: EdcoConfig) -> str:
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is not None:
        return experiment.experiment_id
    artifacts = (Path(cfg.storage.root).resolve() / "mlartifacts").as_uri()
    return client.create_experiment(cfg.mlflow.experiment, artifact_location=artifacts)


def _find(client: MlflowClient, cfg: EdcoConfig, tag: str, value: str) -> str | None:
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is None:
        return None
    found = client.search_runs([experiment.experiment_id], filter_string=f"tags.`{tag}` = '{value}'", max_results=1)
    return found[0].info.run_id if found else None


@contextmanager
def _serialised(cfg: EdcoConfig) -> Iterator[None]:
    """Two runs starting in a fresh store would otherwise both create the SQLite schema (and the
    experiment) at once; a moved store is repointed before anything is logged into it."""
    with exclusive(Path(cfg.storage.root) / ".locks" / "mlflow.lock"):
        if not cfg.mlflow.tracking_uri:  # a tracking server is not the store's to move
            relocate(Path(cfg.storage.root))
        yield


def relocate(root: Path) -> None:
    """Point a moved or copied store's MLflow records at where the store is now.

    MLflow records absolute artifact locations (per experiment and per run) when they are
    created, and has no API to change them; a store copied from a training machine to a laptop
    would show artifacts that are not there. The store remembers where its records point
    (`.mlflow-root`); when it finds itself elsewhere, the recorded prefix is rewritten in the
    SQLite file. Callers hold the store's MLflow lock.
    """
    root = root.resolve()
    db, marker = root / "mlflow.db", root / ".mlflow-root"
    recorded = _recorded_root(root)
    if recorded != str(root) and db.exists():
        _point_records(db, recorded, root)
    if recorded != str(root) or not marker.exists():
        atomic_write(marker, lambda tmp: tmp.write_text(f"{root}\n"))


def _recorded_root(root: Path) -> str:
    """Where the store's MLflow records point (the store's own path when it never moved)."""
    marker = root / ".mlflow-root"
    return marker.read_text().strip() if marker.exists() else str(root)


def _point_records(db: Path, recorded: str, root: Path) -> None:
    """Rewrite the recorded store prefix `recorded` to `root` in the tracking database `db`."""
    old, new = Path(recorded).as_uri(), root.as_uri()
    with closing(sqlite3.connect(db)) as con, con:
        for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri")):
            con.execute(
                f"UPDATE {table} SET {column} = ? || substr({column}, ?) WHERE substr({column}, 1, ?) = ?",
                (new, len(old) + 1, len(old), old),
            )
        con.execute(
            "UPDATE tags SET value = ? || substr(value, ?) WHERE key = 'edco.run_dir' AND substr(value, 1, ?) = ?",
            (str(root), len(recorded) + 1, len(recorded), recorded),
        )


def upload(log: Callable[[], None], path: Path, retries: int = 0) -> None:
    """One artifact upload of `path` (a file or folder). A full disk is one `DiskFullError` naming
    it and its size, never retried; other I/O errors are retried `retries` times here (uploads in
    the tracking tasks are retried by the task, as every stage's I/O is)."""
    for attempt in range(retries + 1):
        try:
            log()
            return
        except Exception as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    f"no space left uploading {path} to MLflow's artifact store: it needs about "
                    f"{size_text(tree_bytes(path))}; nothing of the upload counts as logged"
                ) from None
            if not isinstance(exc, OSError) or attempt == retries:
                raise
            time.sleep(1)


def _log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    batch = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for start in range(0, len(batch), 100):
        client.log_batch(run_id, params=batch[start : start + 100])


class MlflowTracker:
    """The `tracking.Tracker` of one curriculum run; nested under a comparison's run when
    `parent_run_id` is given."""

    def __init__(self, store: RunStore, parent_run_id: str | None = None) -> None:
        self.store = store
        self.cfg = store.config()
        self.parent_run_id = parent_run_id

    @cached_property
    def client(self) -> MlflowClient:
        """Created on first use: in a fresh store that creates the SQLite schema, which `start` serialises."""
        return MlflowClient(tracking_uri=tracking_uri(self.cfg))

    @property
    def run_id(self) -> str:
        run_id = self.find_run()
        if run_id is None:
            raise LookupError(f"run {self.store.name} has no MLflow run yet")
        return run_id

    def find_run(self) -> str | None:
        """The MLflow run id of this curriculum run, if it has one yet; changes nothing."""
        return _find(self.client, self.cfg, "edco.uid", self.store.info()["uid"])

    def start(self) -> str:
        with _serialised(self.cfg):
            run_id = self.find_run()
            if run_id is not None:
                self.client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))  # resumed
                return run_id
            tags = {"edco.uid": self.store.info()["uid"], "edco.run_dir": str(self.store.run_dir.resolve())}
            if self.parent_run_id:
                tags["mlflow.parentRunId"] = self.parent_run_id
            run = self.client.create_run(_experiment_id(self.client, self.cfg), run_name=self.store.name, tags=tags)
            _log_params(self.client, run.info.run_id, flatten(self.cfg.identity()))
            return run.info.run_id

    def log_interval(self, interval: int) -> int:
        """The interval's metrics (step = interval), the trainer's steps (global step), the
        environments the run's stages ran in so far (tag `edco.environment`), its score table and plots."""
        run_id = self.run_id
        now = int(time.time() * 1000)
        metrics = self.store.metrics(interval)
        fresh = self._new(
            run_id,
            [
                Metric(key, float(value), now, interval)
                for key, value in metrics.items()
                if key not in NOT_METRICS and isinstance(value, (int, float)) and not isinstance(value, bool)
            ],
        )
        offset = sum(self.store.train_stats(i)["steps"] for i in range(interval))
        fresh += self._new(
            run_id,
            [
                Metric(f"{STEP_PREFIX}{key}", float(value), now, offset + int(entry["step"]))
                for entry in self.store.train_stats(interval)["history"]
                for key, value in entry.items()
                if key != "step"
            ],
        )
        for start in range(0, len(fresh), _BATCH):
            self.client.log_batch(run_id, metrics=fresh[start : start + _BATCH])
        environments = " | ".join(describe(environment) for environment in self.store.environments())
        self.client.set_tag(run_id, "edco.environment", environments[:8000])  # MLflow's limit of a tag value
        fault_point(f"mlflow.log@{interval}")
        folder = self.store.interval_dir(interval).name
        logged = {Path(a.path).name for a in self.client.list_artifacts(run_id, folder)}
        info = self.store.score_info_path(interval)  # rescored share; prefix calibration table
        tables = [self.store.stage_path(interval, "select"), *([info] if info.exists() else [])]
        if not {*(path.name for path in tables), *PLOTS} <= logged:  # a crash may have cut the uploads short
            for path in [*tables, *interval_plots(self.store, interval)]:
                if path.name not in logged:
                    upload(lambda path=path: self.client.log_artifact(run_id, str(path), folder), path)
        return len(fresh)

    def _new(self, run_id: str, metrics: list[Metric]) -> list[Metric]:
        """Those of `metrics` whose (key, step) is not logged yet."""
        logged: dict[str, set[int]] = {}
        for key in {m.key for m in metrics}:
            logged[key] = {m.step for m in self.client.get_metric_history(run_id, key)}
        return [m for m in metrics if m.step not in logged[m.key]]

    def finish(self, final_interval: int) -> None:
        """Upload the final checkpoint once per final interval (a run extended with --force
        uploads its new one; re-entering a finished run uploads nothing) and mark the run finished."""
        run_id = self.run_id
        if self.client.get_run(run_id).data.tags.get("edco.final_interval") != str(final_interval):
            if self.cfg.mlflow.log_final_checkpoint:
                checkpoint = self.store.checkpoint_dir(final_interval)
                upload(lambda: self.client.log_artifacts(run_id, str(checkpoint), "final_checkpoint"), checkpoint)
            self.client.set_tag(run_id, "edco.final_interval", str(final_interval))
        self.client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))

    def fail(self) -> None:
        """Show a run that stopped on an error as FAILED in the MLflow UI until it is resumed."""
        self.client.set_terminated(self.run_id, RunStatus.to_string(RunStatus.FAILED))

    def stop(self, status: str) -> None:
        """Show a run stopped from outside (a signal: KILLED; its Prefect API lost: FAILED) so until
        it is resumed; nothing when it never reached MLflow or is not running (a finished member)."""
        _stop_if_running(self.client, self.find_run(), status)

    def metric_history(self, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in self.client.get_metric_history(self.run_id, key)]


def run_summary(tracker: MlflowTracker) -> dict[str, Any]:
    """Status, tags and latest metrics of the tracked run, for tests and `edco` commands."""
    run = tracker.client.get_run(tracker.run_id)
    return {"status": run.info.status, "tags": run.data.tags, "metrics": run.data.metrics, "params": run.data.params}


class MlflowComparison:
    """The parent MLflow run of a strategy comparison; each member's run is nested under it."""

    def __init__(self, base: EdcoConfig, name: str) -> None:
        self.cfg, self.name = base, name
        self.client = MlflowClient(tracking_uri=tracking_uri(base))

    def start(self, params: dict[str, Any]) -> str:
        """Found again by its name on a resumed comparison; created (with `params`) otherwise."""
        with _serialised(self.cfg):
            run_id = _find(self.client, self.cfg, "edco.comparison", self.name)
            if run_id is not None:
                self.client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
                return run_id
            run = self.client.create_run(
                _experiment_id(self.client, self.cfg),
                run_name=f"compare {self.name}",
                tags={"edco.comparison": self.name},
            )
            _log_params(self.client, run.info.run_id, params)
            return run.info.run_id

    def finish(self, run_id: str, files: list[Path]) -> None:
        for file in files:
            upload(lambda file=file: self.client.log_artifact(run_id, str(file)), file, retries=2)
        self.client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))

    def fail(self, run_id: str) -> None:
        self.client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))

    def stop(self, status: str) -> None:
        """As `MlflowTracker.stop`, for the comparison's parent run."""
        _stop_if_running(self.client, _find(self.client, self.cfg, "edco.comparison", self.name), status)


def _stop_if_running(client: MlflowClient, run_id: str | None, status: str) -> None:
    if run_id is not None and client.get_run(run_id).info.status == RunStatus.to_string(RunStatus.RUNNING):
        client.set_terminated(run_id, status)


def open_store_ui(root: Path) -> Path:
    """The tracking database a UI reads, its records pointed at where the store is now: the
    store's own, or, for a store on read-only media, a private copy (nothing is written to the
    store; the UI reads the artifacts where they are)."""
    root = Path(root).resolve()
    if unwritable(root) is None:
        with exclusive(root / ".locks" / "mlflow.lock"):
            relocate(root)
        return root / "mlflow.db"
    copy = Path(tempfile.mkdtemp(prefix="edco-ui-")) / "mlflow.db"
    shutil.copy2(root / "mlflow.db", copy)
    recorded = _recorded_root(root)
    if recorded != str(root):
        _point_records(copy, recorded, root)
    return copy
