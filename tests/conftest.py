"""Shared fixtures: a tiny local model (nothing downloaded) and one Prefect API per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from tests.helpers import build_tiny_model, tiny_config


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny(tiny_model_dir: Path):
    """(model, tokenizer) loaded through edco's own loader."""
    from edco.config.schema import ModelConfig
    from edco.models.loading import load_model, load_tokenizer

    cfg = ModelConfig(name=str(tiny_model_dir))
    return load_model(cfg), load_tokenizer(cfg)


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """One temporary Prefect API for the whole session (it is slow to start); its URL for subprocesses."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def finished_tiny(tiny_model_dir: Path, prefect_api: str, tmp_path_factory: pytest.TempPathFactory):
    """(config, store, metrics) of one finished 2-interval tiny run, shared by every test that only
    reads it: a test that changes a store works on a copy."""
    from edco.config.schema import parse_config
    from edco.flows.curriculum import run_curriculum

    cfg = parse_config(tiny_config(tiny_model_dir, tmp_path_factory.mktemp("finished")))
    store, metrics = run_curriculum(cfg)
    return cfg, store, metrics


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed on first use; skipped only where there is no apt-get to install it."""
    import shutil
    import subprocess

    found = shutil.which("chromium")
    if found:
        return found
    if not shutil.which("apt-get"):
        pytest.skip("no chromium and no apt-get to install it (not a Debian machine)")
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "chromium"],
        check=True,
        capture_output=True,
        timeout=900,
        env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    return shutil.which("chromium")


# Tests that run a flow (every test that needs the Prefect API, directly or through a finished
# run) form the "flow" tier; `make check` leaves them and the slow ones out to stay within two
# minutes, `make test` runs everything.
FLOW_FIXTURES = {"prefect_api", "finished_tiny"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if FLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.flow)
