"""prefect.yaml's deployments on a real Prefect server and process worker, driven by the CLI as a user would.

A local `prefect server start` (its own PREFECT_HOME), the `edco-process` pool, `prefect deploy --all`
and `prefect worker start`; then `edco-curriculum` runs a 2-interval tiny config and is SIGKILLed
(EDCO_KILL_AT, passed as a job variable) right after interval 0 is sealed, which the worker reports as
CRASHED, and `edco-resume` continues the run at interval 1 to COMPLETED. Every process is stopped by
its PID (and process group) afterwards.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from edco.storage.store import RunStore
from edco.tracking.mlflow_runs import MlflowTracker
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")  # the CLI of the environment running the tests
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUN_TIMEOUT_S = 420


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


class Processes:
    """Long-running children, each in its own process group, stopped by PID in reverse order."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.started = env, logs, []

    def start(self, name: str, *argv: str) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "w") as log:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=CHECKOUT, start_new_session=True
            )
        self.started.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)


def prefect(env: dict[str, str], *argv: str, timeout: int = 300) -> str:
    """A one-shot `prefect ...` command; its output (stdout and stderr), asserting success."""
    done = subprocess.run(
        [PREFECT, *argv], env=env, cwd=CHECKOUT, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"prefect {' '.join(argv)} exited {done.returncode}:\n{output[-4000:]}"
    return output


def wait_terminal(base: str, flow_run_id: str, logs: Path) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        run = api(f"{base}/flow_runs/{flow_run_id}")
        if run["state_type"] in TERMINAL:
            return run
        assert time.monotonic() < deadline, (
            f"flow run {flow_run_id} still {run['state_type']}; worker log:\n{tail(logs / 'worker.log')}"
        )
        time.sleep(2)


def kill_unfinished(base: str, flow_run_ids: list[str]) -> None:
    """After a failed test: SIGKILL, by the PID the worker reported, a flow run's process still running."""
    for flow_run_id in flow_run_ids:
        try:
            run = api(f"{base}/flow_runs/{flow_run_id}")
        except OSError:
            continue
        pid = str(run.get("infrastructure_pid") or "").rsplit(":", 1)[-1]
        if run["state_type"] not in TERMINAL and pid.isdigit():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def messages(base: str) -> list[str]:
    found, offset = [], 0
    while page := api(f"{base}/logs/filter", {"offset": offset, "limit": 200, "sort": "TIMESTAMP_ASC"}):
        found += [entry["message"] for entry in page]
        offset += len(page)
    return found


def test_deployments_run_and_resume_on_a_server_and_process_worker(tiny_model_dir, tmp_path):
    store_root = tmp_path / "store"
    config = tmp_path / "sched.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_model_dir, store_root, run_name="sched")))  # 2 intervals
    logs = tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "EDCO_"))},
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": base,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",  # the default 10 s poll only adds waiting
        "EDCO_CHECKOUT": str(CHECKOUT),  # prefect.yaml's pull step: flow runs start in this checkout
        "HF_HUB_OFFLINE": "1",  # the tiny model is a local folder named in the config
        "TOKENIZERS_PARALLELISM": "false",
    }
    children = Processes(env, logs)
    flow_run_ids: list[str] = []
    try:
        server = children.start("server", PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port))
        deadline = time.monotonic() + 180
        while True:
            try:
                api(f"{base}/health")
                break
            except OSError:
                assert server.poll() is None, f"prefect server exited:\n{tail(logs / 'server.log')}"
                assert time.monotonic() < deadline, f"no /api/health in 180 s:\n{tail(logs / 'server.log')}"
                time.sleep(1)

        prefect(env, "work-pool", "create", "edco-process", "--type", "process")
        deployed = prefect(env, "--no-prompt", "deploy", "--all")
        assert "edco-run/edco-curriculum" in deployed and "edco-resume/edco-resume" in deployed, deployed
        deployments = {d["name"]: d for d in api(f"{base}/deployments/filter", {})}
        assert set(deployments) == {"edco-curriculum", "edco-resume"}
        [schedule] = deployments["edco-curriculum"]["schedules"]
        assert schedule["schedule"]["cron"] == "0 3 * * *" and schedule["active"] is False
        assert deployments["edco-resume"]["work_pool_name"] == "edco-process"

        worker = children.start("worker", PREFECT, "worker", "start", "--pool", "edco-process", "--type", "process")

        # 1. The curriculum deployment, killed right after interval 0 is sealed (a crash, no cleanup).
        out = prefect(
            env,
            "deployment",
            "run",
            "edco-run/edco-curriculum",
            "--param",
            f"config_path={config}",
            "--job-variable",
            'env={"EDCO_KILL_AT": "seal.end@0"}',
        )
        first_id = re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)
        flow_run_ids.append(first_id)
        first = wait_terminal(base, first_id, logs)
        assert first["state_type"] == "CRASHED", f"{first['state']}\n{tail(logs / 'worker.log')}"
        assert worker.poll() is None, "the worker must survive its flow run's crash"
        store = RunStore(store_root / "sched")
        assert store.exists() and store.interval_problem(0) is None and store.interval_problem(1) is not None
        sealed = (store.interval_dir(0) / "manifest.json").stat().st_mtime_ns
        interval0 = store.metrics(0)

        # 2. The resume deployment: the frozen config from interval 1.
        out = prefect(
            env,
            "deployment",
            "run",
            "edco-resume/edco-resume",
            "--param",
            "run_name=sched",
            "--param",
            f"root={store_root}",
        )
        second_id = re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)
        flow_run_ids.append(second_id)
        second = wait_terminal(base, second_id, logs)
        assert second["state_type"] == "COMPLETED", f"{second['state']}\n{tail(logs / 'worker.log')}"
        assert second["parameters"] == {"run_name": "sched", "root": str(store_root)}

        # The store: both intervals finished and intact, interval 0 left as the crashed run sealed it.
        assert [store.interval_problem(i) for i in (0, 1)] == [None, None]
        assert (store.interval_dir(0) / "manifest.json").stat().st_mtime_ns == sealed
        assert store.metrics(0) == interval0
        metrics = [json.loads((store.interval_dir(i) / "metrics.json").read_text()) for i in (0, 1)]
        assert all(0.0 <= m["accuracy"] <= 1.0 for m in metrics) and [m["interval"] for m in metrics] == [0, 1]
        assert json.loads((store.run_dir / "run.json").read_text())["config"]
        assert any("resuming sched at interval 1" in message for message in messages(base))

        # MLflow: the one run the crashed flow started, found again and finished by the resume.
        tracker = MlflowTracker(store)
        run = tracker.client.get_run(tracker.run_id)
        assert run.info.status == "FINISHED"
        assert [r.info.run_id for r in tracker.client.search_runs([run.info.experiment_id])] == [tracker.run_id]
        history = tracker.client.get_metric_history(tracker.run_id, "accuracy")
        assert sorted((m.step, m.value) for m in history) == [(m["interval"], m["accuracy"]) for m in metrics]
    finally:
        kill_unfinished(base, flow_run_ids)
        children.stop()
