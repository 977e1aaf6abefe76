"""Fine-tune stage: train on the interval's selection; its checkpoint starts the next interval."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prefect import task

from edco import training
from edco.config.schema import EdcoConfig
from edco.errors import EdcoError
from edco.evaluation.diagnostics import gradient_consistency, last_block_params
from edco.models.devices import resolve_placement
from edco.models.loading import checkpoint_bytes, load_model, load_tokenizer, save_checkpoint
from edco.seeds import derive_seed
from edco.storage.files import tree_bytes
from edco.storage.store import RunStore
from edco.storage.verdicts import store_judge
from edco.tasks.stage import RETRIES, StageClock, run_stage
from edco.tasks.train_worker import PROGRESS


def _train(store: RunStore, cfg: EdcoConfig, interval: int, clock: StageClock) -> Path:
    launched = cfg.training.launcher != "local"
    with clock.timing_model_io():  # launched ranks load their own: here only for the diagnostics, if any
        needed = not launched or cfg.diagnostics.gradient_samples
        model = load_model(cfg.model, store.model_checkpoint(interval), training=True) if needed else None
        tokenizer = load_tokenizer(cfg.model)
    records = store.selected_records(interval)
    diagnostics = _selection_diagnostics(model, tokenizer, records, cfg, derive_seed(cfg.seed, interval, "train"))
    if launched:
        del model  # before the ranks start: they need the memory
        return _launched(store, cfg, interval, clock, diagnostics)
    judge = store_judge(cfg, store.run_dir.parent, store.name, interval)
    stats = training.train(model, tokenizer, records, cfg, interval, progress=clock.progress, judge=judge)
    with clock.timing_model_io():
        store.write_checkpoint(interval, lambda tmp: save_checkpoint(model, tokenizer, tmp), checkpoint_bytes(model))
    return store.write_train_stats(interval, {**stats.to_json(), "diagnostics": diagnostics}, clock.timing())


def _launched(store: RunStore, cfg: EdcoConfig, interval: int, clock: StageClock, diagnostics: dict) -> Path:
    """The interval trained by `training.num_processes` ranks in a subprocess (`tasks/train_worker.py`),
    its checkpoint and stats then written into the store as a one-process stage writes them."""
    with tempfile.TemporaryDirectory(prefix=".launch-", dir=store.run_dir) as out:
        command = launch_command(cfg, [str(store.run_dir), str(interval), out])
        log = Path(out) / "ranks.log"  # a file, not a pipe: the ranks' logging must never block on a full pipe
        with log.open("w") as errors:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, start_new_session=True)
            try:
                for line in proc.stdout:
                    if line.startswith(PROGRESS):
                        clock.progress(*map(int, line.split()[1:3]))
                code = proc.wait()
            finally:
                if proc.poll() is None:  # the stage itself failed or was interrupted: no rank outlives it
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        tail = _first_error(log.read_text().splitlines())
        stats_file = Path(out) / "stats.json"
        if code != 0 or not stats_file.exists():
            raise LaunchError(
                f"training interval {interval} on {cfg.training.num_processes} process(es) with "
                f"{cfg.training.launcher} failed (exit code {code}):\n" + "\n".join(f"  {line}" for line in tail)
            )
        stats = json.loads(stats_file.read_text())
        with clock.timing_model_io():
            ranks = Path(out) / "checkpoint"
            store.write_checkpoint(
                interval, lambda tmp: shutil.copytree(ranks, tmp, dirs_exist_ok=True), tree_bytes(ranks)
            )
    return store.write_train_stats(interval, {**stats, "diagnostics": diagnostics}, clock.timing())


_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*")


def _first_error(lines: list[str]) -> list[str]:
    """What to show of the ranks' output: the first rank's exception, else the last lines."""
    found = [line for line in lines if _EXCEPTION.match(line)]
    return found[:1] if found else lines[-8:]


def launch_command(cfg: EdcoConfig, args: list[str]) -> list[str]:
    """The launcher's command line for `tasks/train_worker.py` with `args`."""
    n = str(cfg.training.num_processes)
    worker = ["-m", "edco.tasks.train_worker", *args]
    if cfg.training.launcher == "torchrun":  # --standalone: a free port on this node, no rendezvous server
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", n, *worker]
    config = ["--config_file", str(cfg.training.accelerate_config)] if cfg.training.accelerate_config else []
    cpu = ["--cpu"] if resolve_placement(cfg.model).device.type == "cpu" else []
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *config,
        *cpu,
        "--num_processes",
        n,
        "--module",
        "edco.tasks.train_worker",
        *args,
    ]


class LaunchError(EdcoError):
    """The launched training failed; the stage wrote nothing, and a resume trains the interval again."""

    hint = "the ranks' last lines are above; fix the cause and resume the run (finished intervals are kept)"


def _selection_diagnostics(model, tokenizer, records, cfg: EdcoConfig, seed: int) -> dict[str, float]:  # noqa: ANN001
    """Gradient direction consistency of the selection under the model about to train on it; timed
    apart so that compute accounting can tell it from training."""
    if not cfg.diagnostics.gradient_samples:
        return {}
    start = time.perf_counter()
    consistency, norm = gradient_consistency(
        model,
        tokenizer,
        records,
        cfg.diagnostics.gradient_samples,
        seed,
        params=last_block_params(model, cfg.diagnostics.gradient_blocks),
    )
    return {
        "gradient_consistency": consistency,
        "gradient_norm": norm,
        "diagnostics_seconds": time.perf_counter() - start,
    }


@task(name="train", **RETRIES)
def train(run_dir: str, interval: int) -> str:
    """Train (SFT or GRPO) on the interval's selected samples; the checkpoint is the next interval's model."""
    return run_stage(run_dir, interval, "train", _train)
