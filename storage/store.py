"""The run store: what has finished is what is on disk.

Layout of one run, `<root>/<run_name>/`:

    config.yaml, run.json          frozen config, its hash, and checksums of the data snapshot;
                                   a forced change adds config-<hash>.yaml, which run.json then names
    pool.parquet, eval.parquet     the validated records the run trains and evaluates on
    stages.jsonl                   audit trail: one line per stage executed or reused; a started
                                   stage's line holds the machine and library versions it ran on
    interval_000/
        score_info.json            score stage: how much of the pool was scored again, and the
                                   prefix calibration (interval 0 of `prefix_tokens: auto`)
        pool_scores.parquet        score stage: the signal per pool sample, `scored_at` its interval
        selection_state.json       select stage: a stateful strategy's state (SEC's bandit), else {}
        scores.parquet             select stage: + rank, selected (the `scores` SQL view)
        checkpoint/                train stage: a from_pretrained folder (adapters only under LoRA)
        train_stats.json           train stage: per-step log and interval means, written after the checkpoint
        eval_items.parquet         evaluate stage: each eval item's result (and the base model's, in
                                   interval 0; the `eval_items` SQL view)
        metrics.json               evaluate stage: the means and the interval's diagnostics
        manifest.json              written last: checksums of every file above

An interval is finished only when its manifest exists and every checksum matches. What each
stage writes is declared once, in STAGE_OUTPUTS, so the manifest, resume and reuse checks
cover whatever a stage writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from safetensors import safe_open

from edco.config.schema import EdcoConfig, load_config
from edco.data.kinds import Kind, kind_of
from edco.errors import StoreError
from edco.evaluation.headline import headline, headline_metric
from edco.evaluation.items import ITEM_SCHEMA
from edco.faultpoints import fault_point
from edco.storage.files import atomic_dir, atomic_write, sha256, unwritable, write_json, write_parquet

NO_RUN_HINT = "list the store's runs with: edco runs --root STORE (the default store is $EDCO_ROOT, else ./runs)"


@dataclass(frozen=True)
class StageOutput:
    """A file or folder a stage writes into its interval folder, and how to read it back.

    `read` raises when the output does not parse: a stage output of an unfinished interval is
    reused only if every one of its outputs reads.
    """

    name: str
    read: Callable[[Path], Any]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def _read_checkpoint(path: Path) -> Path:
    weights = sorted(path.glob("*.safetensors"))
    if not weights or not any((path / name).exists() for name in ("config.json", "adapter_config.json")):
        raise ValueError(f"{path}: not a checkpoint folder")
    for file in weights:
        with safe_open(str(file), "pt") as fh:
            fh.metadata()
    return path


CHECKPOINT = "checkpoint"
STAGE_OUTPUTS: dict[str, tuple[StageOutput, ...]] = {
    "score": (StageOutput("score_info.json", _read_json), StageOutput("pool_scores.parquet", pq.read_table)),
    "select": (StageOutput("selection_state.json", _read_json), StageOutput("scores.parquet", pq.read_table)),
    "train": (StageOutput(CHECKPOINT, _read_checkpoint), StageOutput("train_stats.json", _read_json)),
    "evaluate": (StageOutput("eval_items.parquet", pq.read_table), StageOutput("metrics.json", _read_json)),
}
"""In write order; a stage's last output is written last, and carries the stage's seconds."""
STAGES = tuple(STAGE_OUTPUTS)
MANIFEST = "manifest.json"
NOT_FINISHED = "not finished"
RUN_FILES = ("config.yaml", "pool.parquet", "eval.parquet")


def default_root() -> Path:
    return Path(os.environ.get("EDCO_ROOT", "runs"))


class RunStore:
    """One run's folder. Cheap to construct: tasks build one from a path string."""

    def __init__(self, run_dir: Path | str) -> None:
        self.run_dir = Path(run_dir)

    @classmethod
    def open(cls, root: Path, run_name: str) -> RunStore:
        store = cls(Path(root) / run_name)
        if not (store.run_dir / "run.json").exists():
            raise StoreError(
                f"no run '{run_name}' in store {root} (missing {store.run_dir / 'run.json'})", hint=NO_RUN_HINT
            )
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
                "config": "config.yaml",
                "config_hash": cfg.identity_hash(),
                "created": time.time(),
                "files": {name: sha256(self.run_dir / name) for name in RUN_FILES},
            },
        )

    def replace_config(self, cfg: EdcoConfig) -> None:
        """A forced config change: later intervals run under `cfg`; earlier configs stay on disk.

        The new config goes to a file of its own, and rewriting run.json to point at it is the
        one atomic step that commits the change: a crash before it leaves the run as it was.
        """
        info = self.info()
        name = f"config-{cfg.identity_hash()[:12]}.yaml"
        atomic_write(self.run_dir / name, lambda tmp: tmp.write_text(cfg.to_yaml()))
        fault_point("config.replace")
        files = {k: v for k, v in info["files"].items() if k != info["config"]}
        info.update(
            config=name,
            files={**files, name: sha256(self.run_dir / name)},
            previous_config_hashes=[*info.get("previous_config_hashes", []), info["config_hash"]],
            config_hash=cfg.identity_hash(),
        )
        write_json(self.run_dir / "run.json", info)

    def info(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "run.json").read_text())

    def config(self) -> EdcoConfig:
        """The frozen config (the one run.json names), pointed at the store this run actually lives in."""
        return load_config(self.run_dir / self.info()["config"]).with_root(self.run_dir.parent)

    def shared_result(self, kind: str, key: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """A result that depends only on `key`, computed once per store and reused by every run in it.

        Kept in `<root>/.shared/<kind>/<sha256 of key>.json`, written atomically; two runs that
        race both compute it and write the same value.
        """
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        path = self.run_dir.parent / ".shared" / kind / f"{digest}.json"
        if path.exists():
            return _read_json(path)["result"]
        result = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {"key": key, "result": result})
        return result

    def verify_run_files(self) -> None:
        for name, digest in self.info()["files"].items():
            path = self.run_dir / name
            if not path.exists() or sha256(path) != digest:
                raise StoreError(
                    f"{path}: missing or corrupted (checksum differs from run.json); the run cannot resume"
                )

    def pool(self) -> pa.Table:
        return pq.read_table(self.run_dir / "pool.parquet")

    def eval_set(self) -> pa.Table:
        return pq.read_table(self.run_dir / "eval.parquet")

    # -- interval level --------------------------------------------------------------
    def interval_dir(self, interval: int) -> Path:
        return self.run_dir / f"interval_{interval:03d}"

    def stage_path(self, interval: int, stage: str) -> Path:
        """The stage's last output: the one whose presence says the stage finished."""
        return self.interval_dir(interval) / STAGE_OUTPUTS[stage][-1].name

    def checkpoint_dir(self, interval: int) -> Path:
        return self.interval_dir(interval) / CHECKPOINT

    def prepare_interval(self, interval: int) -> Path:
        path = self.interval_dir(interval)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_table(self, interval: int, stage: str, table: pa.Table, timing: dict[str, float]) -> Path:
        """`timing`: the stage's seconds and model I/O seconds, kept in the Parquet metadata."""
        self.prepare_interval(interval)
        metadata = {f"edco.{key}": f"{value:.6f}" for key, value in timing.items()}
        return write_parquet(self.stage_path(interval, stage), table, metadata, fault=f"{stage}.write@{interval}")

    def write_checkpoint(self, interval: int, write: Callable[[Path], None], needed: int | None = None) -> Path:
        """`needed`: about how many bytes the checkpoint takes (said when the disk is full)."""
        self.prepare_interval(interval)
        return atomic_dir(self.checkpoint_dir(interval), write, fault=f"checkpoint.write@{interval}", needed=needed)

    def write_train_stats(self, interval: int, stats: dict[str, Any], timing: dict[str, float]) -> Path:
        return write_json(self.stage_path(interval, "train"), {**stats, **timing}, fault=f"stats.write@{interval}")

    def score_info_path(self, interval: int) -> Path:
        return self.interval_dir(interval) / STAGE_OUTPUTS["score"][0].name

    def write_score_info(self, interval: int, info: dict[str, Any]) -> Path:
        self.prepare_interval(interval)
        return write_json(self.score_info_path(interval), info, fault=f"score_info.write@{interval}")

    def score_info(self, interval: int) -> dict[str, Any]:
        """What the score stage measured beyond the scores; {} for intervals written before it recorded any."""
        path = self.score_info_path(interval)
        return _read_json(path) if path.exists() else {}

    def write_selection_state(self, interval: int, state: dict[str, Any]) -> Path:
        self.prepare_interval(interval)
        return write_json(
            self.interval_dir(interval) / STAGE_OUTPUTS["select"][0].name, state, fault=f"state.write@{interval}"
        )

    def selection_state(self, interval: int) -> dict[str, Any]:
        """What a stateful strategy (SEC's bandit) carried out of an interval; {} for the others."""
        return _read_json(self.interval_dir(interval) / STAGE_OUTPUTS["select"][0].name)

    def read_table(self, interval: int, stage: str) -> pa.Table:
        return pq.read_table(self.stage_path(interval, stage))

    def selected_records(self, interval: int) -> pa.Table:
        """The pool records the interval's selection chose."""
        scores = self.read_table(interval, "select")
        pool = self.pool()
        return pool.filter(pc.is_in(pool["id"], value_set=scores.filter(scores["selected"])["sample_id"]))

    def train_stats(self, interval: int) -> dict[str, Any]:
        return _read_json(self.stage_path(interval, "train"))

    def headline_values(self, intervals: Iterable[int]) -> tuple[str, dict[int, float]]:
        """The headline metric's name and its value by interval, of those among `intervals` that were
        evaluated (`evaluation.every` leaves the others without one)."""
        intervals = list(intervals)
        found = [headline(self.metrics(i)) for i in intervals]
        name = found[0][0] if found else headline_metric(self.config(), self.kind())
        return name, {i: value for i, (_, value) in zip(intervals, found) if value is not None}

    def kind(self) -> Kind:
        """The kind of records the run holds, read from its pool's schema."""
        return kind_of(pq.read_schema(self.run_dir / "pool.parquet"))

    def training_seconds(self, interval: int) -> float:
        """The train stage's seconds less its model I/O and gradient diagnostics: what training
        the selection itself cost, the base every overhead is measured against."""
        stats = self.train_stats(interval)
        return (
            stats["seconds"]
            - stats.get("model_io_seconds", 0.0)
            - stats.get("diagnostics", {}).get("diagnostics_seconds", 0.0)
        )

    def stage_timing(self, interval: int, stage: str) -> dict[str, float]:
        """The stage's seconds and model I/O seconds (the latter absent from outputs written before it was kept)."""
        path = self.stage_path(interval, stage)
        if path.suffix == ".parquet":
            metadata = pq.read_schema(path).metadata
            found = {
                key.decode().removeprefix("edco."): value for key, value in metadata.items() if key.startswith(b"edco.")
            }
        else:
            found = _read_json(path)
        return {key: float(found[key]) for key in ("seconds", "model_io_seconds") if key in found}

    def model_checkpoint(self, interval: int) -> Path | None:
        """The weights interval `interval` starts from: the previous interval's (sealed, and exactly
        the files its manifest lists: checked by name at every load, cheap even for an 8B model's
        weights), or the base model."""
        if interval == 0:
            return None
        added = self.unexpected_files(interval - 1, CHECKPOINT)
        if added:
            raise StoreError(
                f"{self.checkpoint_dir(interval - 1)} gained files its manifest does not list "
                f"({', '.join(added[:5])}): loading it would train on another model",
                hint="remove them, or resume the run: the interval is set aside and recomputed",
            )
        return self.checkpoint_dir(interval - 1)

    def write_eval_items(self, interval: int, items: pa.Table) -> Path:
        path = self.prepare_interval(interval) / STAGE_OUTPUTS["evaluate"][0].name
        return write_parquet(path, items, fault=f"eval_items.write@{interval}")

    def eval_items(self, interval: int) -> pa.Table:
        """The interval's per-item results; an empty table for intervals evaluated before they were kept."""
        path = self.interval_dir(interval) / STAGE_OUTPUTS["evaluate"][0].name
        return pq.read_table(path) if path.exists() else ITEM_SCHEMA.empty_table()

    def write_metrics(self, interval: int, metrics: dict[str, Any]) -> Path:
        return write_json(self.stage_path(interval, "evaluate"), metrics, fault=f"metrics.write@{interval}")

    def metrics(self, interval: int) -> dict[str, Any]:
        return _read_json(self.stage_path(interval, "evaluate"))

    def seal(self, interval: int) -> Path:
        """Checksums of every file the interval's stages wrote, written last: the commit point of an interval."""
        folder = self.interval_dir(interval)
        files = {
            str(path.relative_to(folder)): sha256(path)
            for output in (o for outputs in STAGE_OUTPUTS.values() for o in outputs)
            for path in _files(folder / output.name)
        }
        return self._write_manifest(interval, {"interval": interval, "files": files, "pruned": []})

    def _write_manifest(self, interval: int, manifest: dict[str, Any]) -> Path:
        return write_json(self.interval_dir(interval) / MANIFEST, manifest, fault=f"manifest.write@{interval}")

    def manifest(self, interval: int) -> dict[str, Any]:
        return _read_json(self.interval_dir(interval) / MANIFEST)

    def interval_problem(self, interval: int, only: Sequence[str] | None = None) -> str | None:
        """None when the interval is finished and intact, else what is wrong with it. `only`: check
        just these of its manifest's files, for a reader that needs no more (`edco compare --plan`
        reads the per-item results, not the checkpoint, whose hashing would be most of its time)."""
        path = self.interval_dir(interval) / MANIFEST
        if not path.exists():
            return NOT_FINISHED
        try:
            files = self.manifest(interval)["files"]
        except (ValueError, KeyError):
            return f"{path} is corrupted"
        if only is not None:
            files = {name: digest for name, digest in files.items() if name in only}
        for name, digest in files.items():
            file = self.interval_dir(interval) / name
            if not file.exists():
                return f"{file} is missing"
            if sha256(file) != digest:
                return f"{file} is corrupted (checksum differs from the manifest)"
        if only is not None:
            return None
        added = self.unexpected_files(interval)
        if added:
            return f"{self.interval_dir(interval) / added[0]} was added after the interval was sealed" + (
                f" (and {len(added) - 1} more file(s) not in the manifest)" if len(added) > 1 else ""
            )
        return None

    def unexpected_files(self, interval: int, under: str = "") -> list[str]:
        """Files of a sealed interval (below `under`, e.g. its checkpoint) that its manifest does not
        list: a sealed output is exactly its manifest, so a file added to it later (adapter weights
        dropped into a checkpoint make the next stage load another model) is damage. Left out: the
        manifest itself, writers' temp files, and what remains of a pruned checkpoint (the next
        prune removes it)."""
        folder = self.interval_dir(interval)
        manifest = self.manifest(interval)
        listed, pruned = set(manifest["files"]), manifest.get("pruned", [])
        return [
            name
            for path in _files(folder / under)
            if (name := str(path.relative_to(folder))) not in listed
            and name != MANIFEST
            and not any(part.endswith(".tmp") for part in Path(name).parts)
            and not any(name.startswith(f"{p}/") for p in pruned)
        ]

    def checkpoint_pruned(self, interval: int) -> bool:
        """Whether a finished interval's checkpoint was deleted under storage.keep_checkpoints."""
        return CHECKPOINT in self.manifest(interval)["pruned"]

    def prune_checkpoint(self, interval: int) -> None:
        """Delete a finished interval's checkpoint. The manifest stops listing it first, so a
        crash in between leaves a folder that the next prune removes, never a "missing" file."""
        manifest = self.manifest(interval)
        if CHECKPOINT not in manifest["pruned"]:
            prefix = f"{CHECKPOINT}/"
            manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith(prefix)}
            manifest["pruned"] = [*manifest["pruned"], CHECKPOINT]
            self._write_manifest(interval, manifest)
        shutil.rmtree(self.checkpoint_dir(interval), ignore_errors=True)

    def stage_readable(self, interval: int, stage: str) -> bool:
        """A stage output of an unfinished interval is reused only if all of it parses."""
        for output in STAGE_OUTPUTS[stage]:
            path = self.interval_dir(interval) / output.name
            try:
                output.read(path)
            except Exception:  # any parse failure (or absence) means "recompute", never "crash"
                return False
        return True

    def remove_stale_temp_files(self) -> int:
        """Temp files and folders of writers killed before their rename; safe because we hold the run lock."""
        stale = list(self.run_dir.glob(".*.tmp")) + list(self.run_dir.glob("interval_*/.*.tmp"))
        for path in stale:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        return len(stale)

    def set_aside(self, interval: int, reason: str) -> Path:
        """Move a damaged interval out of the way; nothing is deleted."""
        target = self.run_dir / "damaged" / f"{self.interval_dir(interval).name}-{int(time.time() * 1000)}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.interval_dir(interval)), target)
        (target / "REASON.txt").write_text(reason + "\n")
        return target

    def log_stage(
        self, interval: int, stage: str, event: str, seconds: float = 0.0, environment: dict[str, Any] | None = None
    ) -> None:
        """Append-only audit trail (one small O_APPEND write per line is atomic on POSIX); a started
        stage records the `environment` it computes in."""
        entry = {
            "interval": interval,
            "stage": stage,
            "event": event,
            "seconds": round(seconds, 3),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "time": time.time(),
        }
        line = json.dumps(entry if environment is None else {**entry, "environment": environment})
        with open(self.run_dir / "stages.jsonl", "a") as fh:
            fh.write(line + "\n")

    def stage_log(self) -> list[dict[str, Any]]:
        path = self.run_dir / "stages.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def environments(self) -> list[dict[str, Any]]:
        """The distinct environments the run's stages started in, first seen first (none for stages
        logged before environments were recorded)."""
        found: list[dict[str, Any]] = []
        for entry in self.stage_log():
            if "environment" in entry and entry["environment"] not in found:
                found.append(entry["environment"])
        return found


def ensure_writable(root: Path) -> None:
    problem = unwritable(root)
    if problem:
        raise StoreError(
            f"storage root {root} is not writable ({problem})", hint="set storage.root or --root to a writable folder"
        )


def _files(path: Path) -> list[Path]:
    """A file, or every file under a folder, in a stable order."""
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
