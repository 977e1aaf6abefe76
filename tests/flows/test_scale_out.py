"""A curriculum scored on Ray and trained by torchrun: the local run's results, through the real Prefect API."""

from __future__ import annotations

import pytest

from edco.config.schema import parse_config
from edco.flows.curriculum import run_curriculum
from tests.helpers import tiny_config

pytest.importorskip("ray")


def test_a_curriculum_on_ray_and_torchrun_runs_as_the_local_one(tiny_model_dir, prefect_api, tmp_path):
    """Scored by 2 Ray actors, trained by 2 torchrun ranks: interval 0's scores (the base model's) equal
    the local run's bit for bit; after training on two ranks (gradients summed in another order) the
    later scores agree to float precision."""
    same = {"curriculum.intervals": 2, "scoring.threads": 1, "scoring.temperature": 0.7}
    local, _ = run_curriculum(parse_config(tiny_config(tiny_model_dir, tmp_path / "local", **same)))
    spread = tiny_config(tiny_model_dir, tmp_path / "spread", **same)
    spread["scoring"] |= {"backend": "ray", "workers": 2}
    spread["training"] |= {"launcher": "torchrun", "num_processes": 2}
    remote, metrics = run_curriculum(parse_config(spread))
    assert remote.read_table(0, "score").equals(local.read_table(0, "score"))
    assert remote.read_table(0, "select")["selected"].equals(local.read_table(0, "select")["selected"])
    assert remote.train_stats(0)["world_size"] == 2
    later, before = (
        remote.read_table(1, "score")["score"].to_pylist(),
        local.read_table(1, "score")["score"].to_pylist(),
    )
    assert later == pytest.approx(before, abs=1e-4)
    assert [m["interval"] for m in metrics] == [0, 1] and metrics[1]["accuracy"] is not None
