"""A curriculum that scores on Ray: the same run as the local backend's, through the real Prefect API."""

from __future__ import annotations

import pytest

from edco.config.schema import parse_config
from edco.flows.curriculum import run_curriculum
from tests.helpers import tiny_config

pytest.importorskip("ray")


def test_a_curriculum_scored_on_ray_equals_the_local_run(tiny_model_dir, prefect_api, tmp_path):
    same = {"curriculum.intervals": 2, "scoring.threads": 1, "scoring.temperature": 0.7}
    local, _ = run_curriculum(parse_config(tiny_config(tiny_model_dir, tmp_path / "local", **same)))
    remote_cfg = tiny_config(tiny_model_dir, tmp_path / "ray", **same)
    remote_cfg["scoring"] |= {"backend": "ray", "workers": 2}
    remote, _ = run_curriculum(parse_config(remote_cfg))
    for interval in range(2):
        assert remote.read_table(interval, "score").equals(local.read_table(interval, "score")), interval
        assert remote.read_table(interval, "select")["selected"].equals(
            local.read_table(interval, "select")["selected"]
        )
    assert remote.metrics(1)["accuracy"] == local.metrics(1)["accuracy"]
