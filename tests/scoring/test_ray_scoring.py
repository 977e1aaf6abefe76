"""The entropy scorer on Ray (a real local Ray, two actors): bit-identical to the local scorer at the
same thread count, a worker killed mid-scoring restarted with its batch retried, a batch that keeps
failing one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edco.config.schema import ModelConfig, RayConfig, ScoringConfig
from edco.scoring import entropy
from tests.helpers import QUESTIONS, make_records

ray = pytest.importorskip("ray")
from edco.scoring import ray_scoring  # noqa: E402 - after the skip: the module needs Ray to run

# The published estimator samples (temperature 0.7), so identity needs the per-batch seeds too.
CFG = ScoringConfig(
    estimator="published", max_new_tokens=6, prefix_tokens=6, batch_size=5, backend="ray", workers=2, threads=1
)
SEED = 1234


@pytest.fixture(scope="module")
def pool():
    return make_records(QUESTIONS * 6, ids=[f"s{i:02d}" for i in range(42)])  # 9 batches, the last of 2


@pytest.fixture(scope="module")
def local_scores(tiny, pool):
    model, tokenizer = tiny
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # what each actor runs with
    try:
        return entropy.score_table(model, tokenizer, pool, CFG, seed=SEED)
    finally:
        torch.set_num_threads(before)


def on_ray(tiny_model_dir, tokenizer, pool, cluster: RayConfig = RayConfig(), **env: str):
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    try:
        return ray_scoring.score_table(ModelConfig(name=str(tiny_model_dir)), None, tokenizer, pool, CFG, cluster, SEED)
    finally:
        ray.shutdown()


def test_ray_scores_equal_the_local_scorer_bit_for_bit(tiny, tiny_model_dir, pool, local_scores):
    _, tokenizer = tiny
    remote = ray_scoring.score_table(
        ModelConfig(name=str(tiny_model_dir)), None, tokenizer, pool, CFG, RayConfig(), SEED
    )  # starts a local Ray and stops it
    assert remote.equals(local_scores)  # equal compares no metadata
    assert not ray.is_initialized()
    unseeded = entropy.score_table(*tiny, pool, CFG, seed=SEED + 1)
    assert not unseeded["score"].equals(local_scores["score"]), "the batch seeds are what makes them equal"


def test_a_worker_killed_mid_scoring_is_restarted_and_its_batch_retried(
    tiny, tiny_model_dir, pool, local_scores, tmp_path
):
    marker = tmp_path / "killed"
    remote = on_ray(tiny_model_dir, tiny[1], pool, EDCO_KILL_AT="ray.batch@3", EDCO_KILL_ONCE_FILE=str(marker))
    assert marker.exists(), "no worker was killed"
    assert remote.equals(local_scores), "every sample scored once, as the local scorer scores it"


def test_a_batch_that_keeps_failing_fails_the_stage_with_one_clear_error(tiny, tiny_model_dir, pool, tmp_path):
    no_retry = RayConfig(max_restarts=0, max_task_retries=0)
    with pytest.raises(ray_scoring.ScoringError) as error:
        on_ray(
            tiny_model_dir, tiny[1], pool, no_retry, EDCO_KILL_AT="ray.batch@3", EDCO_KILL_ONCE_FILE=str(tmp_path / "k")
        )
    assert "scoring on Ray failed for good after its restarts and retries" in str(error.value)
    assert "batch(es) unscored" in str(error.value)


@pytest.mark.slow
def test_the_worker_node_of_a_two_node_cluster_killed_mid_scoring_loses_no_sample(
    tiny_model_dir, local_scores, tmp_path
):
    """In a fresh driver process (`tests/ray_cluster.py`), as a user's would be: a Ray session this
    test process held before leaves state (its auth token) that a second cluster rejects."""
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "scores.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    subprocess.run(
        [sys.executable, "-m", "tests.ray_cluster", str(tiny_model_dir), str(out)],
        env=env,
        check=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )
    found = json.loads(out.read_text())
    assert found["results"] > 3 and found["nodes"] == 2, "the worker node's scorer took part before it died"
    assert found["ids"] == local_scores["sample_id"].to_pylist()
    assert found["scores"] == local_scores["score"].to_pylist(), "every sample scored exactly once, as locally"
