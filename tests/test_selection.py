from __future__ import annotations

import pyarrow as pa
import pytest

from edco.errors import ConfigError
from edco.selection import resolve_top_n, select_top_n


def scores(ids, values):
    return pa.table({"sample_id": ids, "score": pa.array(values, pa.float64())})


def test_edco_selects_highest_scores_with_ties_broken_by_id():
    table = select_top_n(scores(["d", "b", "a", "c", "e"], [0.5, 0.9, 0.5, 0.1, 0.5]), "edco", 3, seed=0)
    ranked = dict(zip(table["sample_id"].to_pylist(), table["rank"].to_pylist()))
    assert ranked == {"b": 1, "a": 2, "d": 3, "e": 4, "c": 5}
    assert table.filter(table["selected"])["sample_id"].to_pylist() == ["d", "b", "a"]


def test_edco_selection_does_not_depend_on_row_order():
    ids, values = ["x", "y", "z", "w"], [0.2, 0.2, 0.7, 0.1]
    forward = select_top_n(scores(ids, values), "edco", 2, 0)
    backward = select_top_n(scores(ids[::-1], values[::-1]), "edco", 2, 0)
    assert set(forward.filter(forward["selected"])["sample_id"].to_pylist()) == {"z", "x"}
    assert set(backward.filter(backward["selected"])["sample_id"].to_pylist()) == {"z", "x"}


def test_random_selection_is_seeded_and_ignores_scores():
    ids = [f"s{i}" for i in range(50)]
    a = select_top_n(scores(ids, [float(i) for i in range(50)]), "random", 10, seed=3)
    b = select_top_n(scores(ids[::-1], [0.0] * 50), "random", 10, seed=3)
    c = select_top_n(scores(ids, [0.0] * 50), "random", 10, seed=4)
    pick = lambda t: sorted(t.filter(t["selected"])["sample_id"].to_pylist())  # noqa: E731
    assert pick(a) == pick(b) != pick(c)
    assert len(pick(a)) == 10
    assert sorted(a["rank"].to_pylist()) == list(range(1, 51))


@pytest.mark.parametrize("pool, epochs, intervals, expected", [(2000, 3, 6, 1000), (10, 1, 3, 3), (5, 1, 10, 1), (7, 4, 2, 7)])
def test_auto_top_n_matches_the_training_budget_of_plain_training(pool, epochs, intervals, expected):
    assert resolve_top_n("auto", pool, epochs, intervals) == expected


def test_top_n_larger_than_pool_is_refused():
    with pytest.raises(ConfigError, match=r"'selection.top_n': 11 is larger than the pool \(10 samples\)"):
        resolve_top_n(11, 10, 1, 2)
