"""The run store: what has finished is what is on disk.

Layout of one run, `<root>/<run_name>/`:

    config.yaml, run.json          frozen config, its hash, and checksums of the data snapshot
    pool.parquet, eval.parquet     the validated records the run trains and evaluates on
    stages.jsonl                   audit trail: one line per stage executed or reused
    interval_000/
        pool_scores.parquet        score stage: entropy per pool sample
        scores.parquet             select stage: + rank, selected (the `scores` SQL view)
        checkpoint.safetensors     train stage: weights (adapters only under LoRA)
        metrics.json               evaluate stage
        manifest.json              written last: checksums of the four files above

An interval is finished only when its manifest exists and every checksum matches.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from safetensors import safe_open

from edco.config import EdcoConfig, load_config
from edco.errors import StoreError
from storage.files import atomic_write, sha256, write_json, write_parquet

STAGES: dict[str, str] = {
    "score": "pool_scores.parquet",
    "select": "scores.parquet",
    "train": "checkpoint.safetensors",
    "evaluate": "metrics.json",
}
MANIFEST = "manifest.json"
RUN_FILES = ("config.yaml", "pool.parquet", "eval.parquet")


def default_root() -> Path:
    return Path(os.environ.get("EDCO_ROOT", "runs"))


class RunStore:
    """One run's folder. Cheap to construct: tasks build one from a path string."""

    def __init__(self, run_dir: Path | str) -> None:
        self.run_dir = Path(run_dir)

    @classmethod
    def open(cls, root: Path, run_name: str) -> "RunStore":
        store = cls(Path(root) / run_name)
        if not (store.run_dir / "run.json").exists():
            raise StoreError(f"no run '{run_name}' in store {root} (missing {store.run_dir / 'run.json'})")
        return store

    # -- run level -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.run_dir.name

    def exists(self) -> bool:
        return (self.run_dir / "run.json").exists()

    def create(self, cfg: EdcoConfig, pool: pa.Table, eval_set: pa.Table, quarantined: list[dict]) -> None:
        """Freeze config and data; run.json is written last and marks the run as created."""
        ensure_writable(self.run_dir.parent)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.run_dir / "config.yaml", lambda tmp: tmp.write_text(cfg.to_yaml()))
        write_parquet(self.run_dir / "pool.parquet", pool)
        write_parquet(self.run_dir / "eval.parquet", eval_set)
        if quarantined:
            lines = "".join(json.dumps(q, default=str) + "\n" for q in quarantined)
            atomic_write(self.run_dir / "quarantine.jsonl", lambda tmp: tmp.write_text(lines))
        write_json(
            self.run_dir / "run.json",
            {
                "run": self.name,
                "uid": uuid.uuid4().hex,
                "config_hash": cfg.identity_hash(),
                "created": time.time(),
                "files": {name: sha256(self.run_dir / name) for name in RUN_FILES},
            },
        )

    def replace_config(self, cfg: EdcoConfig) -> None:
        """A forced config change: later intervals run under `cfg`; the old hash is kept for the record."""
        info = self.info()
        atomic_write(self.run_dir / "config.yaml", lambda tmp: tmp.write_text(cfg.to_yaml()))
        info["previous_config_hashes"] = [*info.get("previous_config_hashes", []), info["config_hash"]]
        info["config_hash"] = cfg.identity_hash()
        info["files"]["config.yaml"] = sha256(self.run_dir / "config.yaml")
        write_json(self.run_dir / "run.json", info)

    def info(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "run.json").read_text())

    def config(self) -> EdcoConfig:
        """The frozen config, pointed at the store this run actually lives in."""
        return load_config(self.run_dir / "config.yaml").with_root(self.run_dir.parent)

    def verify_run_files(self) -> None:
        for name, digest in self.info()["files"].items():
            path = self.run_dir / name
            if not path.exists() or sha256(path) != digest:
                raise StoreError(f"{path}: missing or corrupted (checksum differs from run.json); the run cannot resume")

    def pool(self) -> pa.Table:
        return pq.read_table(self.run_dir / "pool.parquet")

    def eval_set(self) -> pa.Table:
        return pq.read_table(self.run_dir / "eval.parquet")

    # -- interval level --------------------------------------------------------------
    def interval_dir(self, interval: int) -> Path:
        return self.run_dir / f"interval_{interval:03d}"

    def stage_path(self, interval: int, stage: str) -> Path:
        return self.interval_dir(interval) / STAGES[stage]

    def prepare_interval(self, interval: int) -> Path:
        path = self.interval_dir(interval)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_table(self, interval: int, stage: str, table: pa.Table, seconds: float) -> Path:
        self.prepare_interval(interval)
        return write_parquet(
            self.stage_path(interval, stage), table, {"edco.seconds": f"{seconds:.6f}"}, fault=f"{stage}.write@{interval}"
        )

    def write_checkpoint(self, interval: int, write: Callable[[Path], None]) -> Path:
        self.prepare_interval(interval)
        return atomic_write(self.stage_path(interval, "train"), write, fault=f"checkpoint.write@{interval}")

    def read_table(self, interval: int, stage: str) -> pa.Table:
        return pq.read_table(self.stage_path(interval, stage))

    def stage_seconds(self, interval: int, stage: str) -> float:
        path = self.stage_path(interval, stage)
        if path.suffix == ".parquet":
            return float(pq.read_schema(path).metadata[b"edco.seconds"])
        return float(self.checkpoint_metadata(interval)["edco.seconds"])

    def checkpoint_metadata(self, interval: int) -> dict[str, str]:
        with safe_open(str(self.stage_path(interval, "train")), "pt") as fh:
            return dict(fh.metadata())

    def model_checkpoint(self, interval: int) -> Path | None:
        """The weights interval `interval` starts from: the previous interval's, or the base model."""
        return None if interval == 0 else self.stage_path(interval - 1, "train")

    def write_metrics(self, interval: int, metrics: dict[str, Any]) -> Path:
        return write_json(self.stage_path(interval, "evaluate"), metrics, fault=f"metrics.write@{interval}")

    def metrics(self, interval: int) -> dict[str, Any]:
        return json.loads(self.stage_path(interval, "evaluate").read_text())

    def seal(self, interval: int) -> Path:
        """Checksums of the interval's files, written last: the commit point of an interval."""
        files = {name: sha256(self.interval_dir(interval) / name) for name in STAGES.values()}
        return write_json(
            self.interval_dir(interval) / MANIFEST, {"interval": interval, "files": files}, fault=f"manifest.write@{interval}"
        )

    def interval_problem(self, interval: int) -> str | None:
        """None when the interval is finished and intact, else what is wrong with it."""
        manifest = self.interval_dir(interval) / MANIFEST
        if not manifest.exists():
            return "not finished"
        try:
            files = json.loads(manifest.read_text())["files"]
        except (ValueError, KeyError):
            return f"{manifest} is corrupted"
        for name, digest in files.items():
            path = self.interval_dir(interval) / name
            if not path.exists():
                return f"{path} is missing"
            if sha256(path) != digest:
                return f"{path} is corrupted (checksum differs from the manifest)"
        return None

    def stage_readable(self, interval: int, stage: str) -> bool:
        """A stage output of an unfinished interval is reused only if it parses."""
        path = self.stage_path(interval, stage)
        if not path.exists():
            return False
        try:
            if path.suffix == ".parquet":
                pq.read_table(path)
            elif path.suffix == ".safetensors":
                with safe_open(str(path), "pt") as fh:
                    fh.metadata()
            else:
                json.loads(path.read_text())
        except Exception:  # any parse failure means "recompute", never "crash"
            return False
        return True

    def remove_stale_temp_files(self) -> int:
        """Temp files of writers killed before their rename; safe because we hold the run lock."""
        stale = list(self.run_dir.glob(".*.tmp")) + list(self.run_dir.glob("interval_*/.*.tmp"))
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    def set_aside(self, interval: int, reason: str) -> Path:
        """Move a damaged interval out of the way; nothing is deleted."""
        target = self.run_dir / "damaged" / f"{self.interval_dir(interval).name}-{int(time.time() * 1000)}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.interval_dir(interval)), target)
        (target / "REASON.txt").write_text(reason + "\n")
        return target

    def log_stage(self, interval: int, stage: str, event: str, seconds: float = 0.0) -> None:
        """Append-only audit trail (one small O_APPEND write per line is atomic on POSIX)."""
        line = json.dumps(
            {"interval": interval, "stage": stage, "event": event, "seconds": round(seconds, 3),
             "pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
        )
        with open(self.run_dir / "stages.jsonl", "a") as fh:
            fh.write(line + "\n")

    def stage_log(self) -> list[dict[str, Any]]:
        path = self.run_dir / "stages.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ensure_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise StoreError(f"storage root {root} is not writable ({exc.strerror})", hint="set storage.root or --root to a writable folder") from None
