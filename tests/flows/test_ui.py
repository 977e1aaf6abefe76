"""`edco ui`: the MLflow UI on the store's database, read over REST and seen in a real browser."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from edco.tracking.mlflow_runs import MlflowTracker
from tests.helpers import headless

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def ui_server(finished_tiny):
    """`edco ui` as a user starts it, in its own process group; stopped by PID afterwards."""
    _, store, _ = finished_tiny
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edco.cli.app", "ui", "--root", str(store.run_dir.parent), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=Path(__file__).parents[2],
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, "edco ui exited"
                assert time.monotonic() < deadline, "the MLflow UI did not answer in 120 s"
                time.sleep(1)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers
        proc.wait(timeout=30)


def test_ui_serves_the_run_and_its_interval_metrics(finished_tiny, ui_server):
    _, store, metrics = finished_tiny
    run_id = MlflowTracker(store).run_id
    run = get_json(f"{ui_server}/api/2.0/mlflow/runs/get?run_id={run_id}")["run"]
    assert run["info"]["run_name"] == "tiny" and run["info"]["status"] == "FINISHED"
    history = get_json(f"{ui_server}/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=accuracy")["metrics"]
    assert [(m["step"], m["value"]) for m in history] == [(m["interval"], m["accuracy"]) for m in metrics]


def test_ui_run_page_renders_in_headless_chromium(finished_tiny, ui_server, chromium, tmp_path):
    _, store, _ = finished_tiny
    tracker = MlflowTracker(store)
    experiment = tracker.client.get_run(tracker.run_id).info.experiment_id
    url = f"{ui_server}/#/experiments/{experiment}/runs/{tracker.run_id}"
    dom = headless(chromium, url, tmp_path / "profile", "--dump-dom", "--virtual-time-budget=20000", timeout=180)
    assert "tiny" in dom and tracker.run_id in dom
