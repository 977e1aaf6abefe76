"""SIGKILL at every stage boundary and mid-stage of intervals 1 and 2, then `edco resume`.

One run is killed at every point in turn (each resume dying at the next), for repeated
crashes; a sample of single points kills a fresh run once and resumes it, and a GRPO run is
killed at each point of its training stage. The final tables, checkpoints and metrics must
equal an uninterrupted run with the same seed, no finished stage may run again, and MLflow
must hold one run with one value per step.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from edco.storage.store import STAGES, RunStore
from edco.tracking.mlflow_runs import MlflowTracker
from tests.helpers import JudgeServer, tiny_config

pytestmark = pytest.mark.slow

POINTS = [
    "score.start",
    "score.mid",
    "score_info.write",
    "score.write",
    "score.end",
    "select.start",
    "select.mid",
    "state.write",
    "select.write",
    "select.end",
    "train.start",
    "train.mid",
    "checkpoint.write",
    "stats.write",
    "train.end",
    "evaluate.start",
    "evaluate.mid",
    "metrics.write",
    "evaluate.end",
    "manifest.write",
    "seal.end",
    "mlflow.log",
]
TIMEOUT_S = 300
KILLS = [f"{point}@{interval}" for interval in (1, 2) for point in POINTS]
SINGLE_KILLS = [
    "score.mid@1",
    "select.write@2",
    "train.mid@1",
    "checkpoint.write@2",
    "manifest.write@1",
    "mlflow.log@2",
]
# The GRPO points inside its own stage: mid-training, the checkpoint and the stats file it writes
# (the stage boundaries are the same code as SFT's, covered by the chained test).
GRPO_KILLS = [f"{point}@1" for point in ("train.mid", "checkpoint.write", "stats.write")]
GRPO = {
    "training.method": "grpo",
    "training.batch_size": 2,
    "training.lr": 1e-4,
    "training.grpo": {"num_generations": 2, "iterations": 2, "max_completion_length": 4},
}


# A free-form interval with a judge: killed right after the first verdict of interval 1's evaluation is
# cached (one request in flight at a time, so nothing else was answered and lost).
FREE_JUDGED = {"data.kind": "reference", "data.limit": 16, "data.eval_limit": 6, "evaluation.max_new_tokens": 8}


class Zygote:
    def __init__(self, api_url: str, log: Path) -> None:
        import os

        env = {**os.environ, "PREFECT_API_URL": api_url}
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cli_zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=Path(__file__).parents[2],
        )
        assert json.loads(self.proc.stdout.readline()) == {"ready": True}

    def run(self, argv: list[str], **env: str) -> dict:
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env, "log": str(self.log)}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT_S)
        if not ready:  # a hung child must fail the test, not stall CI
            self.proc.kill()
            pytest.fail(f"edco {' '.join(argv)} did not finish in {TIMEOUT_S} s; see {self.log}")
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def zygote(prefect_api, tmp_path_factory):
    z = Zygote(prefect_api, tmp_path_factory.mktemp("logs") / "children.log")
    yield z
    z.close()


def write_config(path: Path, model_dir: Path, root: Path, **overrides: object) -> Path:
    path.write_text(yaml.safe_dump(tiny_config(model_dir, root, **{"curriculum.intervals": 3, **overrides})))
    return path


def finished_reference(zygote, model_dir: Path, base: Path, **overrides: object) -> RunStore:
    config = write_config(base / "run.yaml", model_dir, base / "store", **overrides)
    assert zygote.run(["run", str(config)]) == {"code": 0, "signal": None}
    return RunStore(base / "store" / "tiny")


@pytest.fixture(scope="module")
def reference(zygote, tiny_model_dir, tmp_path_factory):
    return finished_reference(zygote, tiny_model_dir, tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def grpo_reference(zygote, tiny_model_dir, tmp_path_factory):
    return finished_reference(zygote, tiny_model_dir, tmp_path_factory.mktemp("grpo-reference"), **GRPO)


def assert_same_results(store: RunStore, reference: RunStore) -> None:
    for interval in range(3):
        got, want = store.read_table(interval, "select"), reference.read_table(interval, "select")
        assert got.drop(["score"]).equals(want.drop(["score"]))
        assert got["score"].to_pylist() == pytest.approx(want["score"].to_pylist(), abs=1e-6)
        strip = lambda m: {k: v for k, v in m.items() if not k.endswith("_seconds")}  # noqa: E731
        assert strip(store.metrics(interval)) == strip(reference.metrics(interval))
    assert store.train_stats(2)["history"] == reference.train_stats(2)["history"]
    final_got = load_file(str(store.checkpoint_dir(2) / "model.safetensors"))
    final_want = load_file(str(reference.checkpoint_dir(2) / "model.safetensors"))
    assert final_got.keys() == final_want.keys()
    for key in final_got:
        assert (final_got[key] - final_want[key]).abs().max().item() <= 1e-6, key


def assert_resumed_without_rework(store: RunStore, reference: RunStore) -> None:
    assert_same_results(store, reference)
    log = store.stage_log()
    finished = [(e["interval"], e["stage"]) for e in log if e["event"] == "finished"]
    assert sorted(finished) == sorted((i, s) for i in range(3) for s in STAGES), "a finished stage was recomputed"
    assert not list(store.run_dir.glob("interval_*/.*.tmp")), "stale temp files were left"
    tracker = MlflowTracker(store)
    runs = tracker.client.search_runs([tracker.client.get_experiment_by_name("edco").experiment_id])
    assert len(runs) == 1, "resume must log into the same MLflow run"
    metric = store.metrics(0).get("metric", "accuracy")
    for key in (metric, "train_loss", "grad_norm", "score_seconds", "evaluate_seconds"):
        assert [step for step, _ in tracker.metric_history(key)] == [0, 1, 2], key
    steps = sum(store.train_stats(i)["steps"] for i in range(3))
    assert [step for step, _ in tracker.metric_history("train/loss")] == list(range(1, steps + 1))


def kill_once_and_resume(zygote, point: str, model_dir: Path, tmp_path: Path, **overrides: object) -> RunStore:
    config = write_config(tmp_path / "run.yaml", model_dir, tmp_path / "store", **overrides)
    assert zygote.run(["run", str(config)], EDCO_KILL_AT=point) == {"code": None, "signal": signal.SIGKILL}, point
    killed_pids = {e["pid"] for e in RunStore(tmp_path / "store" / "tiny").stage_log()}
    assert zygote.run(["resume", "tiny", "--root", str(tmp_path / "store")]) == {"code": 0, "signal": None}
    store = RunStore(tmp_path / "store" / "tiny")
    kill_interval = int(point.split("@")[1])
    resumed = [e for e in store.stage_log() if e["pid"] not in killed_pids and e["event"] == "started"]
    assert all(e["interval"] >= kill_interval for e in resumed), "a finished interval was recomputed"
    return store


@pytest.mark.parametrize("point", SINGLE_KILLS)
def test_sigkill_then_resume_matches_uninterrupted_run(point, zygote, reference, tiny_model_dir, tmp_path):
    store = kill_once_and_resume(zygote, point, tiny_model_dir, tmp_path)
    assert_resumed_without_rework(store, reference)


@pytest.mark.parametrize("point", GRPO_KILLS)
def test_sigkill_in_a_grpo_interval_then_resume_matches_uninterrupted_run(
    point, zygote, grpo_reference, tiny_model_dir, tmp_path
):
    store = kill_once_and_resume(zygote, point, tiny_model_dir, tmp_path, **GRPO)
    assert_resumed_without_rework(store, grpo_reference)
    assert "reward_mean" in store.metrics(1) and store.train_stats(1)["steps"] == 2


def test_repeated_sigkills_during_resume_still_converge(zygote, reference, tiny_model_dir, tmp_path):
    config = write_config(tmp_path / "run.yaml", tiny_model_dir, tmp_path / "store")
    root = str(tmp_path / "store")
    assert zygote.run(["run", str(config)], EDCO_KILL_AT=KILLS[0]) == {"code": None, "signal": signal.SIGKILL}
    for point in KILLS[1:]:
        outcome = zygote.run(["resume", "tiny", "--root", root], EDCO_KILL_AT=point)
        assert outcome == {"code": None, "signal": signal.SIGKILL}, f"{point} was never reached"
    assert zygote.run(["resume", "tiny", "--root", root]) == {"code": 0, "signal": None}
    assert_resumed_without_rework(RunStore(tmp_path / "store" / "tiny"), reference)


def test_sigkill_mid_judged_evaluation_resumes_without_asking_a_cached_question(zygote, tiny_model_dir, tmp_path):
    (tmp_path / "reference").mkdir()
    root = tmp_path / "store"
    with JudgeServer(tmp_path / "asked.jsonl") as server:
        judge = {"base_url": server.base_url, "model": "judge-test", "concurrency": 1}
        reference = finished_reference(zygote, tiny_model_dir, tmp_path / "reference", **FREE_JUDGED, judge=judge)
        by_reference = len(server.asked())
        config = write_config(tmp_path / "run.yaml", tiny_model_dir, root, **FREE_JUDGED, judge=judge)
        killed = zygote.run(["run", str(config)], EDCO_KILL_AT="judge.verdict@1")
        assert killed == {"code": None, "signal": signal.SIGKILL}
        cached = {_asked_as(json.loads(p.read_text())) for p in (root / ".shared" / "judge").glob("*.json")}
        before_resume = len(server.asked())
        assert zygote.run(["resume", "tiny", "--root", str(root)]) == {"code": 0, "signal": None}
        resumed = server.asked()[before_resume:]
        total = len(server.asked()) - by_reference
    assert resumed and not cached & set(resumed), "the resume asked a question whose verdict was cached"
    # One request at a time, each verdict cached before the next is asked: the kill lost none.
    assert total == by_reference
    store = RunStore(root / "tiny")
    assert_resumed_without_rework(store, reference)
    assert store.metrics(1)["judge_accuracy"] == reference.metrics(1)["judge_accuracy"]


def _asked_as(verdict: dict) -> str:
    """The message the judge sent for a cached verdict: its rubric, filled in."""
    return verdict["rubric"].format(**{k: verdict[k] for k in ("question", "answer", "reference")})


TORCHRUN = {"training.launcher": "torchrun", "training.num_processes": 2}


def test_a_rank_killed_mid_training_fails_the_run_and_the_resume_ends_as_uninterrupted(
    zygote, tiny_model_dir, tmp_path
):
    (tmp_path / "reference").mkdir()
    reference = finished_reference(zygote, tiny_model_dir, tmp_path / "reference", **TORCHRUN)
    config = write_config(tmp_path / "run.yaml", tiny_model_dir, tmp_path / "store", **TORCHRUN)
    failed = zygote.run(["run", str(config)], EDCO_KILL_AT="train.rank1.mid@1")
    assert failed == {"code": 2, "signal": None}, "one rank's death fails the stage with a clear error"
    store = RunStore(tmp_path / "store" / "tiny")
    assert not store.checkpoint_dir(1).exists() and store.interval_problem(0) is None
    assert zygote.run(["resume", "tiny", "--root", str(tmp_path / "store")]) == {"code": 0, "signal": None}
    assert_resumed_without_rework(store, reference)
