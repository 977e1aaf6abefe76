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


class Node:
    """`ray start --block` in a process group of its own, stopped by killing that group (never
    `ray stop`, which would end every Ray process of the user on this machine)."""

    def __init__(self, *args: str) -> None:
        import os
        import shutil
        import subprocess

        env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # a test cluster on 127.0.0.1 only
        command = [shutil.which("ray", path=os.path.dirname(__import__("sys").executable)), "start", "--block", *args]
        self.proc = subprocess.Popen(
            command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def kill(self) -> None:
        import os
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)


@pytest.mark.slow
def test_the_worker_node_of_a_two_node_cluster_killed_mid_scoring_loses_no_sample(
    tiny, tiny_model_dir, local_scores, monkeypatch
):
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    head = Node("--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2", "--include-dashboard=false")
    worker = None
    try:
        address = f"127.0.0.1:{port}"
        monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
        deadline = time.time() + 120
        worker = Node(f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=1")
        ray.init(address=address, log_to_driver=False)
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            assert time.time() < deadline, "the worker node never joined"
            time.sleep(1)
        results: list[int] = []

        def kill_worker_node(done: int, total: int) -> None:
            # Each actor was given one batch at the start and a new one with each result: by the third
            # result both nodes have answered, and the worker node's actor is in the middle of a batch.
            results.append(done)
            if len(results) == 3:
                worker.kill()

        pool = make_records(QUESTIONS * 6, ids=[f"s{i:02d}" for i in range(42)])
        remote = ray_scoring.score_table(
            ModelConfig(name=str(tiny_model_dir)),
            None,
            tiny[1],
            pool,
            CFG,
            RayConfig(address=address),
            SEED,
            kill_worker_node,
        )
        assert len(results) > 3 and remote.equals(local_scores), "every sample scored exactly once, as locally"
        assert remote.schema.metadata[b"ray_nodes"] == b"2", "the worker node's scorer took part before it died"
    finally:
        ray.shutdown()
        if worker is not None:
            worker.kill()
        head.kill()
        current = Path("/tmp/ray/ray_current_cluster")  # what `ray start` left for the next ray.init to join
        if current.exists() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()
