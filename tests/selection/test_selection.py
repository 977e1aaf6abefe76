"""Every selection strategy on a fixed score table."""

from __future__ import annotations

import pyarrow as pa
import pytest

from edco.config.schema import SelectionConfig
from edco.errors import ConfigError
from edco.selection.sec import BanditState
from edco.selection.strategies import STRATEGIES, SelectionInput, resolve_top_n, select


def scores(ids, values):
    return pa.table({"sample_id": ids, "score": pa.array(values, pa.float64())})


def run(strategy, table, n, interval=0, seed=0, **kwargs):
    cfg = kwargs.pop("cfg", SelectionConfig(strategy=strategy))
    ranked, state = select(SelectionInput(scores=table, n=n, seed=seed, interval=interval, cfg=cfg, **kwargs), strategy)
    return ranked, state


def picked(table) -> list[str]:
    return table.filter(table["selected"])["sample_id"].to_pylist()


def by_rank(table) -> list[str]:
    return [i for _, i in sorted(zip(table["rank"].to_pylist(), table["sample_id"].to_pylist()))]


IDS = [f"s{i}" for i in range(10)]
VALUES = [0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4, 1.0]  # s9 > s1 > s5 > s3 > s7 > s0 > s8 > s4 > s6 > s2


def test_each_strategy_measures_its_own_signal():
    assert {name: (s.signal, s.rescore) for name, s in STRATEGIES.items()} == {
        "edco": ("entropy", True),
        "random": ("none", True),
        "static_ppl": ("perplexity", False),
        "dynamic_ppl": ("perplexity", True),
        "sec": ("none", True),
        "length": ("length", False),
        "ifd": ("ifd", True),
    }


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_selects_exactly_n_with_a_full_ranking(strategy):
    table = scores(IDS, VALUES)
    ranked, _ = run(strategy, table, 4, interval=1, categories=["x", "y"] * 5)
    assert sum(ranked["selected"].to_pylist()) == 4
    assert sorted(ranked["rank"].to_pylist()) == list(range(1, 11))


def test_edco_selects_highest_scores_with_ties_broken_by_id():
    table, _ = run("edco", scores(["d", "b", "a", "c", "e"], [0.5, 0.9, 0.5, 0.1, 0.5]), 3)
    assert dict(zip(table["sample_id"].to_pylist(), table["rank"].to_pylist())) == {
        "b": 1,
        "a": 2,
        "d": 3,
        "e": 4,
        "c": 5,
    }
    assert picked(table) == ["d", "b", "a"]


def test_edco_selection_does_not_depend_on_row_order():
    forward, _ = run("edco", scores(IDS, VALUES), 3)
    backward, _ = run("edco", scores(IDS[::-1], VALUES[::-1]), 3)
    assert set(picked(forward)) == set(picked(backward)) == {"s9", "s1", "s5"}


def test_drop_top_leaves_the_highest_scores_out_as_outliers():
    cfg = SelectionConfig(drop_top=0.2)  # the top 2 of 10 go last
    table, _ = run("edco", scores(IDS, VALUES), 3, cfg=cfg)
    assert set(picked(table)) == {"s5", "s3", "s7"}
    assert by_rank(table)[-2:] == ["s9", "s1"]


def test_window_selects_inside_score_quantiles_highest_first():
    cfg = SelectionConfig(window=(0.2, 0.6))  # numpy quantiles of 0.1..1.0: 0.28 and 0.64
    table, _ = run("edco", scores(IDS, VALUES), 3, cfg=cfg)
    assert by_rank(table)[:4] == ["s7", "s0", "s8", "s4"]  # 0.6, 0.5, 0.4, 0.3: the scores inside the window
    assert picked(table) == ["s0", "s7", "s8"]


def test_random_selection_is_seeded_and_ignores_scores_and_row_order():
    ids = [f"s{i}" for i in range(50)]
    a, _ = run("random", scores(ids, [float(i) for i in range(50)]), 10, seed=3)
    b, _ = run("random", scores(ids[::-1], [0.0] * 50), 10, seed=3)
    c, _ = run("random", scores(ids, [0.0] * 50), 10, seed=4)
    assert sorted(picked(a)) == sorted(picked(b)) != sorted(picked(c))


def test_static_ppl_feeds_easy_to_hard_n_per_interval_and_wraps():
    table = scores(IDS, VALUES)  # ascending: s2 s6 s4 s8 s0 s7 s3 s5 s1 s9
    chosen = [set(picked(run("static_ppl", table, 4, interval=i)[0])) for i in range(3)]
    assert chosen == [{"s2", "s6", "s4", "s8"}, {"s0", "s7", "s3", "s5"}, {"s1", "s9", "s2", "s6"}]


def test_length_feeds_the_longest_first():
    table = scores(IDS, VALUES)
    assert set(picked(run("length", table, 3, interval=0)[0])) == {"s9", "s1", "s5"}
    assert set(picked(run("length", table, 3, interval=1)[0])) == {"s3", "s7", "s0"}


def test_sec_starts_uniform_and_returns_its_state():
    categories = ["x"] * 5 + ["y"] * 5
    table, state = run("sec", scores(IDS, VALUES), 4, seed=1, categories=categories)
    restored = BanditState.from_json(state)
    assert restored.q == {} and sum(restored.draws.values()) == 4  # no feedback yet: every arm at Q = 0


def test_sec_updates_from_the_last_intervals_gains_and_then_prefers_the_arm_that_taught_more():
    categories = ["x"] * 5 + ["y"] * 5
    previous = BanditState(q={"x": 0.0, "y": 0.0}, draws={"x": 2, "y": 2}).to_json()
    gain = {"s0": 4.0, "s1": 2.0, "s6": 0.0}  # x gained (4 + 2) / 2 = 3, y gained 0
    table, state = run(
        "sec", scores(IDS, VALUES), 4, interval=1, seed=0, categories=categories, state=previous, sample_gain=gain
    )
    assert BanditState.from_json(state).q == pytest.approx({"x": 1.5, "y": 0.0})  # Q = 0.5 * 0 + 0.5 * r
    # pi(x) = e^(1.5/0.4) / (e^(1.5/0.4) + 1) = 0.977: nearly every slot draws from x
    chosen = picked(table)
    assert sum(c in IDS[:5] for c in chosen) >= 3


def test_sec_state_comes_only_from_what_it_is_given():
    categories = ["x", "y"] * 5
    runs = [
        run(
            "sec",
            scores(IDS, VALUES),
            4,
            interval=2,
            seed=5,
            categories=categories,
            state={"q": {"x": 0.3}, "draws": {}},
            sample_gain={"s1": 1.0},
        )
        for _ in range(2)
    ]
    assert runs[0][0].equals(runs[1][0]) and runs[0][1] == runs[1][1]


@pytest.mark.parametrize(
    "pool, epochs, intervals, expected", [(2000, 3, 6, 1000), (10, 1, 3, 3), (5, 1, 10, 1), (7, 4, 2, 7)]
)
def test_auto_top_n_matches_the_training_budget_of_plain_training(pool, epochs, intervals, expected):
    assert resolve_top_n("auto", pool, epochs, intervals) == expected


def test_top_n_larger_than_pool_is_refused():
    with pytest.raises(ConfigError, match=r"'selection.top_n': 11 is larger than the pool \(10 samples\)"):
        resolve_top_n(11, 10, 1, 2)


def test_drop_top_and_window_are_alternatives():
    with pytest.raises(ValueError, match="either drop_top or window"):
        SelectionConfig(drop_top=0.1, window=(0.0, 0.9))
