"""Scoring part of the pool after interval 0 (rescore_fraction, the plateau trigger) and `prefix_tokens: auto`."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats

from edco.config.schema import ScoringConfig, parse_config
from edco.flows.curriculum import run_curriculum
from edco.scoring import calibration, rescoring
from edco.scoring.entropy import score_table
from edco.tracking.mlflow_runs import MlflowTracker
from tests.helpers import tiny_config


def select_table(scores: list[float], ranks: list[int], n: int, scored_at: list[int] | None = None) -> pa.Table:
    """A select-stage table as the store holds it (columns in the stage's order)."""
    ids = [f"s{i}" for i in range(len(scores))]
    columns = {
        "run": ["r"] * len(ids),
        "interval": pa.array([0] * len(ids), pa.int32()),
        "sample_id": ids,
        "score": pa.array(scores, pa.float64()),
        "n_tokens": pa.array([4] * len(ids), pa.int32()),
        "model_tokens": pa.array([100] * len(ids), pa.int64()),
        "signal": ["prefix_entropy_nats"] * len(ids),
    }
    if scored_at is not None:
        columns["scored_at"] = pa.array(scored_at, pa.int32())
    columns |= {"rank": pa.array(ranks, pa.int32()), "selected": [r <= n for r in ranks]}
    return pa.table(columns)


def test_plan_scores_the_last_selection_the_margin_and_a_seeded_share():
    previous = select_table([0.1 * i for i in range(20)], list(range(20, 0, -1)), n=4)  # s19 ranks 1
    cfg = ScoringConfig(rescore_fraction=0.25, rescore_margin=0.5)
    plan = rescoring.plan(previous, None, cfg, n=4, seed=3, interval=1)
    band = {f"s{i}" for i in range(14, 20)}  # ranks 1-6: the 4 trained and ceil(0.5 * 4) = 2 next
    chosen = {s for s, r in zip(previous["sample_id"].to_pylist(), plan.rescore) if r}
    assert band <= chosen and 6 < len(chosen) <= 6 + 5  # plus round(0.25 * 20) = 5 seeded, some maybe in the band
    assert (
        plan.rescore.tolist()
        == rescoring.plan(previous.take(np.arange(20)[::-1]), None, cfg, 4, 3, 1).rescore[::-1].tolist()
    )
    assert not plan.plateau and plan.movement is None
    assert rescoring.plan(previous, None, ScoringConfig(), n=4, seed=3, interval=1).rescore.all()


def test_movement_compares_untrained_rescored_samples_with_their_scores_before():
    before = select_table([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [6, 5, 4, 3, 2, 1], n=1)  # s5 was trained
    previous = select_table([9.0, 1.5, 2.5, 0.5, 4.0, 0.0], [1, 4, 3, 5, 2, 6], n=1, scored_at=[1, 1, 1, 1, 0, 1])
    # fresh and untrained: s0..s3 (s4 carried, s5 trained); new ranks 4,2,3,1 against old 1,2,3,4
    expected = stats.spearmanr([9.0, 1.5, 2.5, 0.5], [1.0, 2.0, 3.0, 4.0]).statistic
    assert rescoring.movement(previous, before, interval=2) == pytest.approx(expected)
    assert expected == pytest.approx(1 - 6 * (3**2 + 0 + 0 + 3**2) / (4 * 15))  # rho = 1 - 6 sum d^2 / (n (n^2 - 1))
    previous = select_table([9.0, 1.5, 2.5, 0.5, 4.0, 0.0], [1, 4, 3, 5, 2, 6], n=1, scored_at=[1, 1, 0, 0, 0, 1])
    assert rescoring.movement(previous, before, interval=2) is None  # two samples: no rank correlation


def test_plateau_leaves_out_the_seeded_share():
    before = select_table([float(i) for i in range(10)], list(range(10, 0, -1)), n=2)
    previous = select_table([float(i) + 0.5 for i in range(10)], list(range(10, 0, -1)), n=2, scored_at=[1] * 10)
    cfg = ScoringConfig(rescore_fraction=0.5, rescore_margin=1.0, plateau_spearman=0.9)
    plan = rescoring.plan(previous, before, cfg, n=2, seed=0, interval=2)
    assert plan.plateau and plan.movement == pytest.approx(1.0)
    assert plan.rescore.tolist() == [False] * 6 + [True] * 4  # ranks 1-4 only
    unsettled = rescoring.plan(previous, before, cfg.model_copy(update={"plateau_spearman": 1.0 - 1e-12}), 2, 0, 2)
    assert unsettled.plateau is (plan.movement >= 1.0 - 1e-12)


def test_merge_replaces_fresh_rows_and_carries_the_rest_at_no_cost():
    previous = select_table([1.0, 2.0, 3.0, 4.0], [4, 3, 2, 1], n=1, scored_at=[0, 1, 1, 0])
    fresh = rescoring.with_scored_at(
        pa.table(
            {
                "sample_id": ["s3", "s1"],
                "score": pa.array([0.25, 0.5]),
                "n_tokens": pa.array([2, 3], pa.int32()),
                "model_tokens": pa.array([50, 60], pa.int64()),
                "signal": ["prefix_entropy_nats"] * 2,
            }
        ),
        2,
    )
    merged = rescoring.merge(previous, fresh, interval=2)
    assert merged["sample_id"].to_pylist() == ["s0", "s1", "s2", "s3"]
    assert merged["score"].to_pylist() == [1.0, 0.5, 3.0, 0.25]
    assert merged["scored_at"].to_pylist() == [0, 2, 1, 2]
    assert merged["model_tokens"].to_pylist() == [0, 60, 0, 50]
    assert merged["n_tokens"].to_pylist() == [4, 3, 4, 2]


def test_calibration_picks_the_smallest_prefix_that_agrees_with_full():
    rows = [
        {"mode": "full", "tokens": 64, "spearman": 1.0},
        {"mode": "prefix", "tokens": 1, "spearman": 0.5},
        {"mode": "prefix", "tokens": 2, "spearman": math.nan},
        {"mode": "prefix", "tokens": 4, "spearman": 0.85},
        {"mode": "prefix", "tokens": 8, "spearman": 0.9},
    ]
    assert calibration.choose(rows, 0.8) == {"mode": "prefix", "prefix_tokens": 4}
    assert calibration.choose(rows, 0.95) == {"mode": "full"}
    resolved = calibration.resolve(ScoringConfig(prefix_tokens="auto"), {"mode": "prefix", "prefix_tokens": 4})
    assert resolved.new_tokens == 4
    with pytest.raises(Exception, match="resolved by calibration"):
        assert ScoringConfig(prefix_tokens="auto").new_tokens


@pytest.fixture(scope="module")
def partial_run(tiny_model_dir, prefect_api, tmp_path_factory):
    """finished_tiny's config (full re-scoring) run for 3 intervals with a quarter re-scored and a plateau trigger
    that always fires once it can measure: interval 1 starts from the same model as finished_tiny's."""
    cfg = parse_config(
        tiny_config(
            tiny_model_dir,
            tmp_path_factory.mktemp("partial"),
            **{"curriculum.intervals": 3},
            scoring={
                "mode": "prefix",
                "prefix_tokens": 4,
                "batch_size": 5,
                "rescore_fraction": 0.25,
                "rescore_margin": 0.5,
                "plateau_spearman": -0.99,
            },
        )
    )
    return run_curriculum(cfg)


def test_partial_rescoring_scores_equal_full_rescoring_and_carry_the_rest(partial_run, finished_tiny):
    store, metrics = partial_run
    full = finished_tiny[1].read_table(1, "score")
    table, first = store.read_table(1, "score"), store.read_table(0, "score")
    fresh = pc.equal(table["scored_at"], 1)
    reference = dict(zip(full["sample_id"].to_pylist(), full["score"].to_pylist()))
    for sample, score in zip(table.filter(fresh)["sample_id"].to_pylist(), table.filter(fresh)["score"].to_pylist()):
        assert score == pytest.approx(reference[sample], rel=1e-5, abs=1e-6)
    carried = table.filter(pc.invert(fresh))
    before = dict(zip(first["sample_id"].to_pylist(), first["score"].to_pylist()))
    assert carried.num_rows > 0 and set(carried["scored_at"].to_pylist()) == {0}
    assert carried["score"].to_pylist() == [before[s] for s in carried["sample_id"].to_pylist()]
    assert set(carried["model_tokens"].to_pylist()) == {0}
    trained = store.read_table(0, "select").filter(pc.field("selected"))["sample_id"].to_pylist()
    assert set(trained) <= set(table.filter(fresh)["sample_id"].to_pylist())
    assert metrics[1]["rescored_samples"] == table.filter(fresh).num_rows < 24
    assert metrics[1]["score_tokens"] == sum(table.filter(fresh)["model_tokens"].to_pylist())


def test_plateau_trigger_measures_movement_from_the_stored_tables_and_scores_only_the_boundary(partial_run):
    store, metrics = partial_run
    previous, before = store.read_table(1, "select"), store.read_table(0, "select")
    trained = set(before.filter(pc.field("selected"))["sample_id"].to_pylist())
    old = dict(zip(before["sample_id"].to_pylist(), before["score"].to_pylist()))
    pairs = [
        (score, old[s])
        for s, score, at in zip(*(previous[c].to_pylist() for c in ("sample_id", "score", "scored_at")))
        if at == 1 and s not in trained
    ]
    rho = stats.spearmanr(*zip(*pairs)).statistic
    info = store.score_info(2)
    assert info["movement_spearman"] == pytest.approx(rho) and metrics[2]["score_movement_spearman"] == pytest.approx(
        rho
    )
    assert info["plateau"] is True
    boundary = previous.filter(pc.less_equal(previous["rank"], 8 + 4))["sample_id"].to_pylist()
    scored = store.read_table(2, "score").filter(pc.equal(pc.field("scored_at"), 2))["sample_id"].to_pylist()
    assert sorted(scored) == sorted(boundary) and info["rescored"] == 12


@pytest.fixture(scope="module")
def calibrated_run(tiny_model_dir, prefect_api, tmp_path_factory):
    cfg = parse_config(
        tiny_config(
            tiny_model_dir,
            tmp_path_factory.mktemp("calibrated"),
            scoring={
                "mode": "prefix",
                "prefix_tokens": "auto",
                "max_new_tokens": 8,
                "batch_size": 5,
                "calibration": {"samples": 12, "candidates": [2, 1], "spearman": 0.5},
            },
        )
    )
    return cfg, *run_curriculum(cfg)


def test_auto_prefix_calibrates_at_interval_0_and_scores_every_interval_with_the_choice(calibrated_run, tiny):
    cfg, store, metrics = calibrated_run
    record = store.score_info(0)["calibration"]
    assert [(r["mode"], r["tokens"]) for r in record["rows"]] == [("full", 8), ("prefix", 1), ("prefix", 2)]
    assert record["samples"] == 12 and record["top_n"] == 4  # N = 8 of 24, scaled to the subset
    assert record["choice"] == calibration.choose(record["rows"], 0.5)
    assert record["rows"][0]["spearman"] == pytest.approx(1.0)
    model, tokenizer = tiny
    expected = score_table(model, tokenizer, store.pool(), calibration.resolve(cfg.scoring, record["choice"]))
    assert store.read_table(0, "score")["score"].to_pylist() == pytest.approx(expected["score"].to_pylist(), rel=1e-5)
    k = record["choice"].get("prefix_tokens", 0)
    assert metrics[0]["calibrated_prefix_tokens"] == k and "calibration" not in store.score_info(1)
    generated = set(store.read_table(1, "score")["n_tokens"].to_pylist())
    assert max(generated) <= (k or 8)
    tracker = MlflowTracker(store)
    assert "score_info.json" in {
        a.path.split("/")[-1] for a in tracker.client.list_artifacts(tracker.run_id, "interval_000")
    }
    assert tracker.metric_history("calibrated_prefix_tokens") == [(0, float(k))]


def test_replay_benchmark_with_full_rescoring_reproduces_the_run(finished_tiny):
    """benchmarks/rescoring.py replays policies on a finished run; re-scoring everything must give
    back the run itself."""
    from benchmarks.rescoring import replay

    _, store, _ = finished_tiny
    [row] = replay(store, ScoringConfig(rescore_fraction=1.0, rescore_margin=0.0))
    assert (row["rescored"], row["cost_saved"], row["top_overlap"]) == (24, 0.0, 1.0)
    assert row["spearman"] == pytest.approx(1.0)
    [partial] = replay(store, ScoringConfig(rescore_fraction=0.25, rescore_margin=0.5))
    assert partial["rescored"] < 24 and partial["cost_saved"] > 0
