"""The installed distribution: a wheel that claims only the `edco` import name, and that works
from a fresh virtual environment, from a folder outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.helpers import tiny_config

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("edco-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    """A new venv with the wheel installed and nothing of the checkout; the dependencies (torch,
    TRL, Prefect...) are borrowed from this venv's site-packages through a .pth file, which adds
    the folder but runs none of its own .pth files, so the checkout's editable install stays out."""
    env_dir = tmp_path_factory.mktemp("fresh") / "venv"
    venv.create(env_dir, with_pip=False)
    site = Path(
        subprocess.check_output(
            [env_dir / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )  # noqa: E501
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env_dir / "bin" / "python"),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return env_dir


def test_the_wheel_claims_only_the_edco_import_name(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"edco", "edco-0.1.0.dist-info"}
    for module in ("flows/curriculum.py", "tasks/stage.py", "storage/store.py", "tracking/mlflow_runs.py"):
        assert f"edco/{module}" in names


def test_the_installed_package_runs_a_tiny_curriculum_outside_the_checkout(
    fresh_venv, tiny_model_dir, prefect_api, tmp_path
):
    python, edco = fresh_venv / "bin" / "python", fresh_venv / "bin" / "edco"
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    env.pop("PYTHONPATH", None)
    where = subprocess.run(
        [python, "-c", "import edco, edco.flows.curriculum as f; print(edco.__file__, f.__file__); import tasks"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.returncode == 1 and "No module named 'tasks'" in where.stderr  # no generic top-level name
    installed, flow = where.stdout.split()
    assert installed.startswith(str(fresh_venv)) and flow.startswith(str(fresh_venv))

    assert subprocess.run([edco, "--help"], cwd=tmp_path, env=env, capture_output=True).returncode == 0
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_model_dir, tmp_path / "runs", **{"curriculum.intervals": 1})))
    run = subprocess.run([edco, "run", str(config)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "runs" / "tiny" / "interval_000" / "metrics.json").is_file()
    assert "run tiny" in run.stdout and "retained" in run.stdout  # the table, with the turnover columns off a terminal
