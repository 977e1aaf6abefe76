"""Corrupted files, retries, locks, concurrent runs and security defaults."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from edco.cli.app import main
from edco.config.schema import ModelConfig, parse_config
from edco.errors import ConfigError, EdcoError, ModelError, StoreError
from edco.flows.curriculum import run_curriculum
from edco.storage.lock import RunLock
from edco.storage.sql import query
from edco.storage.store import RunStore
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def finished(finished_tiny):
    return finished_tiny[1]


def copy_store(store: RunStore, target: Path) -> RunStore:
    shutil.copytree(store.run_dir.parent, target)
    return RunStore(target / store.name)


def same_tables(a: RunStore, b: RunStore) -> bool:
    return all(a.read_table(i, "select").equals(b.read_table(i, "select")) for i in range(2))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "interval, name, damage, first_rerun",
    [
        (1, "checkpoint/model.safetensors", truncate, 1),
        (1, "train_stats.json", flip_byte, 1),
        (1, "metrics.json", truncate, 1),
        (0, "scores.parquet", flip_byte, 0),
        (0, "manifest.json", truncate, 0),
    ],
)
def test_corrupted_file_is_detected_and_the_run_resumes_from_the_last_intact_interval(
    finished, tmp_path, caplog, interval, name, damage, first_rerun
):
    store = copy_store(finished, tmp_path / "store")
    damage(store.interval_dir(interval) / name)
    run_curriculum(store.config())
    assert same_tables(store, finished)
    assert f"resuming from interval {first_rerun}" in caplog.text
    set_aside = sorted(p.name.split("-")[0] for p in (store.run_dir / "damaged").iterdir())
    assert set_aside == [f"interval_{i:03d}" for i in range(first_rerun, 2)]  # kept, not deleted
    reran = {e["interval"] for e in store.stage_log()[len(finished.stage_log()) :] if e["event"] == "started"}
    assert reran == set(range(first_rerun, 2))


def test_a_checkpoint_that_gained_files_is_damage_not_another_model(finished, tmp_path, tiny_model_dir):
    """Adapter files dropped into a sealed checkpoint would make the next interval load another model
    (peft reads adapter_config.json): the next load refuses it, and the resume sets the interval and
    every later one aside, as for a failed checksum, and recomputes them."""
    from edco.errors import StoreError
    from edco.flows.resume import resume_point

    store = copy_store(finished, tmp_path / "store")
    checkpoint = store.checkpoint_dir(0)
    (checkpoint / "adapter_config.json").write_text("{}")
    shutil.copy(checkpoint / "model.safetensors", checkpoint / "adapter_model.safetensors")
    with pytest.raises(StoreError, match="gained files its manifest does not list"):
        store.model_checkpoint(1)
    assert store.interval_problem(0).endswith(
        "adapter_config.json was added after the interval was sealed (and 1 more file(s) not in the manifest)"
    )
    assert store.interval_problem(1) is None, "only the interval whose files changed is damaged itself"
    start, notes = resume_point(store, 2)
    assert start == 0 and "interval 0 before it is not intact" in notes[1]
    reasons = sorted((p / "REASON.txt").read_text() for p in (store.run_dir / "damaged").iterdir())
    assert "was added after the interval was sealed" in reasons[0]


def test_a_reader_checks_only_the_files_it_reads(finished, tmp_path):
    """`edco compare --plan` reads the last evaluation's files, so it checks those, not the checkpoint
    it never loads (hashing hundreds of MB per member); damage to what it reads is still named."""
    from edco.storage.store import STAGE_OUTPUTS

    store = copy_store(finished, tmp_path / "store")
    (store.checkpoint_dir(1) / "model.safetensors").write_bytes(b"damaged")
    evaluation = [output.name for output in STAGE_OUTPUTS["evaluate"]]
    assert store.interval_problem(1).endswith("model.safetensors is corrupted (checksum differs from the manifest)")
    assert store.interval_problem(1, evaluation) is None
    (store.interval_dir(1) / "eval_items.parquet").write_bytes(b"damaged")
    assert store.interval_problem(1, evaluation) == (
        f"{store.interval_dir(1) / 'eval_items.parquet'} is corrupted (checksum differs from the manifest)"
    )


def test_files_left_by_a_pruned_checkpoint_or_a_writer_are_not_damage(finished, tmp_path):
    store = copy_store(finished, tmp_path / "store")
    store.prune_checkpoint(0)
    leftover = store.checkpoint_dir(0)
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"half-deleted")  # a crash between manifest and rmtree
    (store.interval_dir(0) / ".metrics.json.123.tmp").write_text("{")
    assert store.interval_problem(0) is None and store.unexpected_files(0) == []


def test_a_changed_source_file_is_mentioned_once_and_the_snapshot_kept(tiny_model_dir, tmp_path, caplog):
    """The pool file changes after the run was created: continuing says how it differs (added,
    removed, changed) and that the frozen snapshot stays; an unchanged source says nothing."""
    import json

    from edco.config.schema import ColumnMap
    from edco.datasets.readers import load_records
    from edco.flows.curriculum import create_or_check

    rows = [
        {k: v for k, v in r.items() if k != "row"}
        for r in load_records("demo", ColumnMap(), limit=30).table.to_pylist()
    ]
    source = tmp_path / "pool.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows[:24]))
    data = tiny_config(tiny_model_dir, tmp_path / "store")
    data["data"] = {**data["data"], "pool": str(source), "limit": None}
    cfg = parse_config(data)
    store = create_or_check(cfg)
    snapshot = store.pool()
    create_or_check(cfg)
    assert "differs from the run's snapshot" not in caplog.text
    changed = [*rows[1:23], {**rows[23], "question": rows[23]["question"] + " (edited)"}, rows[24], rows[25]]
    source.write_text("".join(json.dumps(r) + "\n" for r in changed))
    caplog.clear()
    create_or_check(cfg)
    warnings = [r.getMessage() for r in caplog.records if "differs from the run's snapshot" in r.getMessage()]
    assert warnings == [
        f"the pool source {source} differs from the run's snapshot (2 record(s) added, 1 record(s) removed, "
        f"1 record(s) changed): the run keeps using its snapshot, {store.run_dir / 'pool.parquet'}"
    ]
    assert store.pool().equals(snapshot)


@pytest.fixture
def small_disk(tmp_path):
    """A 450 KiB tmpfs: room for a tiny run's data and first interval, not for its second
    checkpoint (skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=450k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("no permission to mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_run_resumes_once_there_is_room(
    small_disk, finished, tiny_model_dir, prefect_api, tmp_path
):
    """ENOSPC mid-run (a checkpoint, a Parquet or an MLflow artifact, whichever comes first on a
    small tmpfs): `edco run` prints one line naming the file and the space, exits 2, leaves no
    half-written file; after the disk grows, the resume finishes with the uninterrupted run's tables."""
    data = tiny_config(tiny_model_dir, small_disk)
    data["mlflow"] = {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(data))
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    run = subprocess.run(
        [sys.executable, "-m", "edco.cli.app", "run", str(config), "--quiet"], capture_output=True, text=True, env=env
    )
    assert run.returncode == 2, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no space left" in errors[0] and "needs about" in errors[0], errors
    store = RunStore(small_disk / "tiny")
    assert not list(store.run_dir.rglob("*.tmp")), "nothing half-written is left"
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    resumed = subprocess.run(
        [sys.executable, "-m", "edco.cli.app", "resume", "tiny", "--root", str(small_disk), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert same_tables(store, finished)


def _wait_for(path: Path, line: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not (
        path.exists() and any(json.loads(x).items() >= json.loads(line).items() for x in path.read_text().splitlines())
    ):
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before the point: {proc.communicate()[1][-3000:]}")
        assert time.time() < deadline, "the run stalled before the point"
        time.sleep(0.2)


def _run_until_training(
    tiny_model_dir: Path,
    tmp_path: Path,
    command: tuple[str, ...] = ("run",),
    run: str = "tiny",
    faults: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, RunStore, list]:
    """`edco run` (or `command`) of the tiny config in a process group of its own, with no Prefect
    API configured (edco starts its own server) and the fault points `faults` set, once interval 0
    of `run` trains; with the processes it started (the server)."""
    import psutil

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_model_dir, tmp_path / "store")))
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")  # its own server database, not the user's
    env |= faults or {}
    # As from a terminal's foreground: a suite started in the background (`make test &`) ignores
    # SIGINT, and a child inherits an ignored signal through exec (a handled one is reset to default).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edco.cli.app", command[0], str(config), *command[1:], "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    store = RunStore(tmp_path / "store" / run)
    _wait_for(store.run_dir / "stages.jsonl", '{"interval": 0, "stage": "train", "event": "started"}', proc)
    family = psutil.Process(proc.pid).children(recursive=True)
    assert family, "the temporary Prefect server runs as the run's child"
    return proc, store, family


def _assert_stopped_and_resumable(
    proc: subprocess.Popen,
    sent: float,
    store: RunStore,
    family: list,
    finished: RunStore,
    code: int,
    error: str,
    status: str,
) -> float:
    """What a run stopped from outside ends in: exit `code` within seconds of `sent`, the line
    `error: <error>` and the resume command, no traceback, no process of the run left (checked by
    PID: the temporary server too), its MLflow run `status`; the resume then matches an
    uninterrupted run. Returns the seconds from `sent` to the exit."""
    import psutil
    from mlflow.tracking import MlflowClient

    from edco.tracking.mlflow_runs import MlflowTracker, tracking_uri

    _, stderr = proc.communicate(timeout=120)
    took = time.time() - sent
    assert proc.returncode == code, stderr[-3000:]
    assert took < 30
    assert "Traceback" not in stderr and "Crash detected" not in stderr, stderr[-3000:]
    assert f"error: {error}" in stderr, stderr[-3000:]
    assert f"hint: resume with: edco resume tiny --root {store.run_dir.parent}" in stderr
    _, alive = psutil.wait_procs(family, timeout=15)
    assert not alive, f"left running: {[p.pid for p in alive]}"
    client = MlflowClient(tracking_uri(store.config()))
    assert client.get_run(MlflowTracker(store).run_id).info.status == status
    run_curriculum(store.config())
    assert same_tables(store, finished)
    return took


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_training_stops_the_run_its_prefect_server_and_its_mlflow_run(
    signum, finished, tiny_model_dir, prefect_api, tmp_path
):
    """SIGTERM to the process, or Ctrl-C to the terminal's process group, while interval 0 trains:
    exit 143 / 130 within seconds, the MLflow run KILLED, and the rest of a clean stop."""
    proc, store, family = _run_until_training(tiny_model_dir, tmp_path)
    sent = time.time()
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # what a terminal's Ctrl-C does: the whole foreground group
    else:
        os.kill(proc.pid, signum)
    error = f"stopped by {signal.Signals(signum).name}; the finished stages are kept"
    _assert_stopped_and_resumable(proc, sent, store, family, finished, 128 + signum, error, "KILLED")


@pytest.mark.slow
def test_a_signal_while_one_long_operator_runs_still_stops_the_run_within_seconds(
    finished, tiny_model_dir, prefect_api, tmp_path
):
    """SIGTERM while the main thread is inside one C call that does not return for many minutes
    (a backward pass under emulated bfloat16 kept a Ctrl-C waiting so): Python cannot run the
    handler, so the stop watch ends the run after `UNWIND_S`, with the line, exit code and MLflow
    status of any stop, and the resume matches the uninterrupted run."""
    from edco.cli.interrupts import UNWIND_S

    blocked = tmp_path / "blocked"
    faults = {"EDCO_BLOCK_AT": "train.mid@0", "EDCO_BLOCKED_FILE": str(blocked)}
    proc, store, family = _run_until_training(tiny_model_dir, tmp_path, faults=faults)
    deadline = time.time() + 120
    while not blocked.exists():
        assert proc.poll() is None and time.time() < deadline, "never reached the fault point"
        time.sleep(0.1)
    sent = time.time()
    os.kill(proc.pid, signal.SIGTERM)
    error = "stopped by SIGTERM; the finished stages are kept"
    took = _assert_stopped_and_resumable(proc, sent, store, family, finished, 143, error, "KILLED")
    assert took >= UNWIND_S  # the watch ended it: the main thread never took the signal


def test_a_temporary_server_that_does_not_answer_in_time_is_one_error_and_is_stopped(tmp_path, monkeypatch):
    """The temporary server not answering within the startup time (a first start migrates a new
    database: 18 s here, beyond Prefect's default 20 s on a loaded machine) is an `EdcoError` naming
    the wait and what to set, not Prefect's traceback, and leaves no server behind."""
    import psutil
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_HOME,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    from edco.flows import api

    monkeypatch.setattr(api, "STARTUP_S", 1)
    monkeypatch.setattr(SubprocessASGIServer, "_instances", {})  # not the session's harness server: one per port
    before = set(psutil.Process().children(recursive=True))  # a session's Prefect harness, say
    settings = {PREFECT_HOME: str(tmp_path / "prefect"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 1}
    with temporary_settings(settings, restore_defaults={PREFECT_API_URL}), pytest.raises(EdcoError) as error:
        with api.prefect_api(lambda message: None):
            pytest.fail("the block ran without a server")
    assert str(error.value).startswith("the temporary Prefect API server did not answer within 1 s: Timed out")
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in error.value.hint
    assert set(psutil.Process().children(recursive=True)) <= before, "the server is stopped"


@pytest.mark.slow
def test_the_prefect_server_dies_with_a_run_killed_outright(tiny_model_dir, tmp_path):
    """SIGKILL (the OOM killer) leaves no cleanup to run: the server's parent-death signal ends it."""
    import psutil

    proc, _, family = _run_until_training(tiny_model_dir, tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    _, alive = psutil.wait_procs(family, timeout=15)
    assert not alive, f"left running: {[p.pid for p in alive]}"


@pytest.mark.slow
def test_the_prefect_server_dying_under_a_run_fails_it_at_once_with_one_line(
    finished, tiny_model_dir, prefect_api, tmp_path
):
    """The run's temporary Prefect server SIGKILLed (the OOM killer's choice) while interval 0 trains:
    exit 2 within seconds, one line naming the server and how it ended, the MLflow run FAILED, and
    the rest of a clean stop. Before, Prefect's client retried the dead server for minutes."""
    proc, store, family = _run_until_training(tiny_model_dir, tmp_path)
    server = family[0]
    killed = time.time()
    for process in family:
        process.kill()
    error = f"the Prefect API server this run started (pid {server.pid}) ended under it (killed by SIGKILL)"
    _assert_stopped_and_resumable(proc, killed, store, family, finished, 2, error, "FAILED")


@pytest.mark.slow
def test_a_signal_to_a_comparison_marks_its_parent_run_and_the_running_member_killed(tiny_model_dir, tmp_path):
    """SIGTERM while the first member trains: the member's MLflow run and the comparison's parent
    run are both KILLED (the parent stayed RUNNING before), exit 143 with the command to go on."""
    from mlflow.tracking import MlflowClient

    from edco.tracking.mlflow_runs import MlflowTracker, tracking_uri

    command = ("compare", "--strategies", "edco,random", "--seeds", "0")
    proc, member, _ = _run_until_training(tiny_model_dir, tmp_path, command, run="tiny-edco-s0")
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 143, stderr[-3000:]
    assert f"hint: resume with: edco compare {tmp_path / 'tiny.yaml'} --strategies edco,random --seeds 0" in stderr
    client = MlflowClient(tracking_uri(member.config()))
    assert client.get_run(MlflowTracker(member).run_id).info.status == "KILLED"
    experiment = client.get_experiment_by_name(member.config().mlflow.experiment)
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`edco.comparison` = 'tiny'")
    assert parent.info.status == "KILLED"


def test_transient_error_is_retried_and_the_retry_is_logged(tiny_model_dir, prefect_api, tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("EDCO_FAIL_AT", "score.mid@0")
    monkeypatch.setenv("EDCO_FAIL_ONCE_FILE", str(tmp_path / "failed-once"))
    store, _ = run_curriculum(
        parse_config(tiny_config(tiny_model_dir, tmp_path / "store", **{"curriculum.intervals": 1}))
    )
    assert "injected fault at score.mid@0" in caplog.text and "Retry 1/2" in caplog.text
    events = [(e["stage"], e["event"]) for e in store.stage_log() if e["interval"] == 0 and e["stage"] == "score"]
    assert events == [("score", "started"), ("score", "started"), ("score", "finished")]


def test_only_io_errors_are_retried():
    from prefect.states import Failed

    from edco.errors import DataError
    from edco.tasks.stage import is_transient

    assert is_transient(None, None, Failed(data=OSError("disk hiccup")))
    assert not is_transient(None, None, Failed(data=DataError("bad row")))
    assert not is_transient(None, None, Failed(data=KeyError("a bug")))


HOLD_LOCK = """
import sys, time
from pathlib import Path
from edco.storage.lock import RunLock
lock = RunLock(Path(sys.argv[1])).__enter__()
print("locked", flush=True)
if sys.argv[2] == "die":
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(120)
"""


def hold_lock(run_dir: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run_dir), mode],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_is_refused_naming_the_holder(finished, tmp_path, capsys):
    store = copy_store(finished, tmp_path / "store")
    holder = hold_lock(store.run_dir, "hold")
    try:
        assert main(["resume", store.name, "--root", str(store.run_dir.parent)]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and socket.gethostname() in err and "already running" in err
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    holder = hold_lock(tmp_path / "run", "die")
    assert holder.wait() == -signal.SIGKILL
    with RunLock(tmp_path / "run") as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_two_runs_side_by_side_and_sql_while_writing(finished, tiny_model_dir, prefect_api, tmp_path):
    root = tmp_path / "store"
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    procs, logs = [], []
    for name, seed in (("tiny", 7), ("other", 8)):
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump(tiny_config(tiny_model_dir, root, run_name=name, seed=seed)))
        logs.append(tmp_path / f"{name}.log")
        with open(logs[-1], "w") as log:  # a file, not a pipe: a long traceback must not block the child
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "edco.cli.app", "run", str(config)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            )
    reads = 0
    while any(p.poll() is None for p in procs):
        query(root, "SELECT run, interval, count(*) FROM scores GROUP BY ALL")  # never sees a half file
        reads += 1
        time.sleep(0.2)
    assert [p.wait() for p in procs] == [0, 0], "\n".join(log.read_text()[-3000:] for log in logs)
    assert reads > 0
    assert same_tables(RunStore(root / "tiny"), finished)  # untouched by the run beside it
    runs = query(root, "SELECT DISTINCT run FROM scores ORDER BY run").to_pylist()
    assert runs == [{"run": "other"}, {"run": "tiny"}]
    for name in ("tiny", "other"):
        assert set(RunStore(root / name).read_table(1, "select")["run"].to_pylist()) == {name}


def frozen_config_with(store: RunStore, tmp_path: Path, section: str, key: str, value: object) -> tuple[Path, dict]:
    """The run's frozen config with one value changed, written to a new file."""
    data = yaml.safe_load((store.run_dir / "config.yaml").read_text())
    data[section][key] = value
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, data


def test_config_change_between_run_and_resume_is_refused_with_a_diff(finished, tmp_path, capsys):
    store = copy_store(finished, tmp_path / "store")
    before = {p: p.stat().st_mtime_ns for p in store.run_dir.rglob("*")}
    changed, data = frozen_config_with(store, tmp_path, "training", "lr", 0.5)
    assert main(["resume", store.name, "--root", str(store.run_dir.parent), "--config", str(changed)]) == 2
    err = capsys.readouterr().err
    assert "different config" in err and "training.lr: 0.001 -> 0.5" in err and "--force" in err
    assert {p: p.stat().st_mtime_ns for p in store.run_dir.rglob("*")} == before  # nothing touched
    with pytest.raises(ConfigError):
        run_curriculum(parse_config(data).with_root(store.run_dir.parent))


def test_ui_warns_when_it_leaves_loopback_and_passes_allowed_hosts(tmp_path, capsys, monkeypatch):
    """`--host 0.0.0.0` says the UI has no authentication (exec stopped before MLflow starts)."""
    from edco.cli import query as commands
    from edco.cli.app import main

    (tmp_path / "mlflow.db").write_text("")
    started = []
    monkeypatch.setattr(commands.os, "execv", lambda exe, cmd: started.append(cmd))
    assert main(["ui", "--root", str(tmp_path), "--host", "0.0.0.0", "--allowed-hosts", "edco.lan"]) == 0
    assert "no authentication" in capsys.readouterr().err
    assert started[0][started[0].index("--allowed-hosts") + 1] == "edco.lan"
    assert main(["ui", "--root", str(tmp_path)]) == 0
    assert "no authentication" not in capsys.readouterr().err and "--allowed-hosts" not in started[1]


def test_a_missing_store_root_is_an_error_not_an_empty_answer(tmp_path, capsys):
    from edco.cli.app import main

    missing = tmp_path / "no-such-store"
    assert main(["runs", "--root", str(missing)]) == 2
    assert f"store {missing} does not exist" in capsys.readouterr().err
    assert main(["sql", "--root", str(missing), "SELECT count(*) FROM scores"]) == 2
    assert f"store {missing} does not exist" in capsys.readouterr().err


def test_sql_cannot_read_duckdbs_default_temp_folder(tmp_path, monkeypatch):
    """DuckDB may always read its temp directory, by default ./.tmp of the current directory:
    outside the store. edco points it at a private folder, so a file planted there is refused."""
    from edco.errors import QueryError

    store, elsewhere = tmp_path / "store", tmp_path / "cwd"
    store.mkdir()
    (elsewhere / ".tmp").mkdir(parents=True)
    (elsewhere / ".tmp" / "secret.csv").write_text("a\n42\n")
    monkeypatch.chdir(elsewhere)
    with pytest.raises(QueryError, match="query failed"):
        query(store, "SELECT * FROM read_csv('.tmp/secret.csv')")
    with pytest.raises(QueryError, match="query failed"):
        query(store, f"SELECT * FROM read_csv('{elsewhere / '.tmp' / 'secret.csv'}')")


def test_a_config_that_is_not_utf8_is_named_with_its_byte(tmp_path):
    from edco.config.schema import load_config
    from edco.errors import ConfigError

    path = tmp_path / "model.yaml"
    path.write_bytes(b"run_name: x\nseed: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"model.yaml: not UTF-8 text \(byte 18 is b'\\xff'\)"):
        load_config(path)


@pytest.fixture
def read_only_store(finished, tmp_path):
    """A copy of the finished store behind a read-only bind mount (skipped where mounting is not
    allowed): what a store on read-only media looks like, to root too."""
    source, mount = copy_store(finished, tmp_path / "source").run_dir.parent, tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "--bind", str(source), str(mount)], capture_output=True).returncode:
        pytest.skip("no permission to bind-mount here")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True).returncode:
            pytest.skip("no permission to remount read-only here")
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)  # an open SQLite pool would keep it busy


def test_a_store_on_read_only_media_is_still_browsable(read_only_store, finished, tmp_path, capsys):
    """`edco report` says where it cannot write and writes with --out; the UI reads a private copy
    of the tracking records pointed at the store's new place; `runs` and `sql` read as usual."""
    from mlflow.tracking import MlflowClient

    from edco.tracking.mlflow_runs import MlflowTracker, open_store_ui

    root = read_only_store
    with pytest.raises(OSError):
        (root / "probe").write_text("")
    assert main(["report", finished.name, "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "is not writable (Read-only file system)" in err and "--out DIR" in err
    out = tmp_path / "report"
    assert main(["report", finished.name, "--root", str(root), "--out", str(out)]) == 0
    assert (out / "report.html").stat().st_size > 0 and (out / "interval_001" / "turnover.png").exists()
    db = open_store_ui(root)
    assert db.parent != root and db.exists()
    client = MlflowClient(f"sqlite:///{db}")
    run_id = MlflowTracker(RunStore(root / finished.name)).find_run()
    assert client.get_run(run_id).info.artifact_uri.startswith(root.resolve().as_uri()), "pointed at the mount"
    assert main(["runs", "--root", str(root)]) == 0 and finished.name in capsys.readouterr().out
    assert query(root, "SELECT count(*) AS n FROM eval_items").to_pylist() == [{"n": 36}]


def test_ui_binds_to_loopback_by_default(tmp_path):
    from edco.cli.query import mlflow_ui_command

    (tmp_path / "mlflow.db").write_text("")
    command = mlflow_ui_command(tmp_path / "mlflow.db", "127.0.0.1", 5000)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    import inspect

    from edco.cli.query import ui

    assert inspect.signature(ui).parameters["host"].default == "127.0.0.1"


@pytest.mark.parametrize("lora, name", [(None, "pytorch_model.bin"), ({"r": 2}, "adapter_model.bin")])
def test_checkpoints_are_never_unpickled(tiny_model_dir, tmp_path, lora, name):
    import torch

    from edco.models.loading import load_model

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_model_dir, checkpoint)
    (checkpoint / "model.safetensors").unlink()
    torch.save({"w": Evil()}, checkpoint / name)
    with pytest.raises(ModelError, match="refusing pickled weights"):
        load_model(ModelConfig(name=str(tiny_model_dir), lora=lora), checkpoint)
    assert not marker.exists()


def test_remote_code_is_off_by_default_and_unknown_models_are_refused():
    from edco.models.loading import load_model

    assert ModelConfig().trust_remote_code is False
    with pytest.raises(ModelError, match="unknown model name"):
        load_model(ModelConfig(name="definitely not a model"))


def test_store_refuses_a_run_whose_frozen_data_changed(finished, tmp_path):
    store = copy_store(finished, tmp_path / "store")
    flip_byte(store.run_dir / "pool.parquet")
    with pytest.raises(StoreError, match="pool.parquet: missing or corrupted"):
        run_curriculum(store.config())


def test_forced_config_change_extends_a_finished_run_without_touching_it(finished, tmp_path, capsys):
    store = copy_store(finished, tmp_path / "store")
    kept = {p: p.stat().st_mtime_ns for p in store.run_dir.glob("interval_00[01]/*")}
    changed, _ = frozen_config_with(store, tmp_path, "curriculum", "intervals", 3)
    args = ["resume", store.name, "--root", str(store.run_dir.parent), "--config", str(changed), "--force"]
    assert main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in store.run_dir.glob("interval_00[01]/*")} == kept
    assert store.interval_problem(2) is None
    assert store.info()["previous_config_hashes"] == [finished.info()["config_hash"]]
    assert store.config().curriculum.intervals == 3
    from edco.tracking.mlflow_runs import MlflowTracker, run_summary

    tracker = MlflowTracker(store)
    assert (
        run_summary(tracker)["tags"]["edco.final_interval"] == "2"
    )  # the extended run's final checkpoint was uploaded
    assert [step for step, _ in tracker.metric_history("accuracy")] == [0, 1, 2]


def test_a_forced_config_change_is_one_atomic_step(finished, tmp_path, monkeypatch):
    from edco.faultpoints import InjectedFault

    store = copy_store(finished, tmp_path / "store")
    _, data = frozen_config_with(store, tmp_path, "curriculum", "intervals", 3)
    monkeypatch.setenv("EDCO_FAIL_AT", "config.replace")  # the new config is written, run.json not yet
    with pytest.raises(InjectedFault):
        run_curriculum(parse_config(data).with_root(store.run_dir.parent), force=True)
    monkeypatch.delenv("EDCO_FAIL_AT")
    assert store.config().curriculum.intervals == 2
    run_curriculum(store.config())  # still resumes: no checksum error, nothing half-changed
    _, metrics = run_curriculum(parse_config(data).with_root(store.run_dir.parent), force=True)
    assert store.config().curriculum.intervals == 3 and len(metrics) == 3


def test_a_copied_store_works_where_it_lands_after_the_original_is_gone(finished, tmp_path):
    from mlflow.tracking import MlflowClient

    from edco.tracking.mlflow_runs import MlflowTracker, open_store_ui, tracking_uri

    store = copy_store(finished, tmp_path / "original")
    moved = tmp_path / "laptop" / "store"
    moved.parent.mkdir()
    shutil.copytree(store.run_dir.parent, moved)
    shutil.rmtree(store.run_dir.parent)
    open_store_ui(moved)  # what `edco ui` does before it starts the server
    copy = RunStore(moved / finished.name)
    client = MlflowClient(tracking_uri(copy.config()))
    run_id = MlflowTracker(copy).run_id
    assert client.get_run(run_id).info.artifact_uri.startswith(moved.resolve().as_uri())
    scores = client.download_artifacts(run_id, "interval_001/scores.parquet", str(tmp_path))
    assert pq.read_table(scores).equals(finished.read_table(1, "select"))
    assert query(moved, "SELECT count(*) AS n FROM metrics").to_pylist() == [{"n": 2}]
