"""Training an interval on several processes (torchrun, accelerate) through the train stage: the same
training as one process, a launcher that runs another number of ranks refused, and a rank killed
mid-training failing the stage with no process left behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from safetensors.torch import load_file

from edco.config.schema import parse_config
from edco.flows.curriculum import create_or_check
from edco.storage.store import RunStore
from edco.tasks.score import score
from edco.tasks.select import select
from edco.tasks.train import LaunchError, train
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # each launch starts Python, torch and TRL once per rank


def prepared(tiny_model_dir: Path, root: Path, **training: object) -> RunStore:
    """A run whose interval 0 is scored and selected, ready to train."""
    cfg = tiny_config(tiny_model_dir, root, **{"curriculum.intervals": 1})
    cfg["training"] |= training
    store = create_or_check(parse_config(cfg))
    score.fn(str(store.run_dir), 0)
    select.fn(str(store.run_dir), 0)
    return store


def weights(store: RunStore) -> dict:
    return load_file(str(store.checkpoint_dir(0) / "model.safetensors"))


@pytest.fixture(scope="module")
def one_process(tiny_model_dir, tmp_path_factory):
    store = prepared(tiny_model_dir, tmp_path_factory.mktemp("local"))
    train.fn(str(store.run_dir), 0)
    return store


def test_torchrun_on_two_processes_trains_as_one_process_does(tiny_model_dir, tmp_path, one_process):
    store = prepared(tiny_model_dir, tmp_path, launcher="torchrun", num_processes=2)
    train.fn(str(store.run_dir), 0)
    ours, theirs = store.train_stats(0), one_process.train_stats(0)
    assert ours["world_size"] == 2 and ours["steps"] == theirs["steps"] == 2
    assert ours["summary"]["train_tokens"] == theirs["summary"]["train_tokens"], "the same samples per step"
    assert ours["summary"]["train_loss"] == pytest.approx(theirs["summary"]["train_loss"], rel=1e-5)
    got, want = weights(store), weights(one_process)
    assert got.keys() == want.keys()
    for key in got:  # gradients averaged over two ranks: the same update up to float summation order
        assert (got[key] - want[key]).abs().max().item() < 1e-5, key
    assert not list(store.run_dir.glob(".launch-*")), "the launch folder was left behind"


def test_a_launcher_that_runs_another_number_of_ranks_is_refused(tiny_model_dir, tmp_path):
    """`accelerate launch --cpu --num_processes 2` starts one process on this CPU (measured)."""
    store = prepared(tiny_model_dir, tmp_path, launcher="accelerate", num_processes=2)
    with pytest.raises(LaunchError, match=r"accelerate started 1 process\(es\), training.num_processes asks for 2"):
        train.fn(str(store.run_dir), 0)
    assert not store.checkpoint_dir(0).exists()


def test_a_rank_killed_mid_training_fails_the_stage_and_leaves_no_process(
    tiny_model_dir, tmp_path, monkeypatch, one_process
):
    store = prepared(tiny_model_dir, tmp_path, launcher="torchrun", num_processes=2)
    monkeypatch.setenv("EDCO_KILL_AT", "train.rank1.mid@0")
    with pytest.raises(LaunchError, match="training interval 0 on 2 process"):
        train.fn(str(store.run_dir), 0)
    left = subprocess.run(["pgrep", "-f", f"edco.tasks.train_worker {store.run_dir}"], capture_output=True, text=True)
    assert left.stdout == "", "a rank outlived the failed stage"
    assert not store.checkpoint_dir(0).exists()
    monkeypatch.delenv("EDCO_KILL_AT")
    train.fn(str(store.run_dir), 0)  # what a resume does: the interval's training again
    assert store.train_stats(0)["steps"] == one_process.train_stats(0)["steps"]
