"""The SQL views over a hand-made store, and the read-only guarantees of `edco sql`."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from edco.cli.app import main
from edco.errors import QueryError
from edco.storage.sql import query

SELECTIONS = {0: {"a", "b", "c"}, 1: {"b", "c", "d"}, 2: {"a", "d", "e"}}
POOL = ["a", "b", "c", "d", "e", "f"]


@pytest.fixture
def store(tmp_path):
    for interval, chosen in SELECTIONS.items():
        folder = tmp_path / "r1" / f"interval_{interval:03d}"
        folder.mkdir(parents=True)
        table = pa.table(
            {
                "run": ["r1"] * 6,
                "interval": pa.array([interval] * 6, pa.int32()),
                "sample_id": POOL,
                "score": [float(i) for i in range(6)],
                "signal": ["prefix_entropy_nats"] * 6,
                "n_tokens": pa.array([4] * 6, pa.int32()),
                "rank": pa.array(range(1, 7), pa.int32()),
                "selected": [s in chosen for s in POOL],
            }
        )
        pq.write_table(table, folder / "scores.parquet")
        (folder / "metrics.json").write_text(
            json.dumps({"run": "r1", "interval": interval, "accuracy": 0.5 + interval / 10})
        )
    return tmp_path


def test_turnover_counts_new_retained_and_returning(store):
    rows = query(
        store, "SELECT interval, selected, new, retained, returned FROM turnover ORDER BY interval"
    ).to_pylist()
    assert rows == [
        {"interval": 0, "selected": 3, "new": 3, "retained": 0, "returned": 0},
        {"interval": 1, "selected": 3, "new": 1, "retained": 2, "returned": 0},  # d new; b, c retained
        {"interval": 2, "selected": 3, "new": 1, "retained": 1, "returned": 1},  # e new; d retained; a returns
    ]


def test_metrics_view_reads_every_interval(store):
    assert query(store, "SELECT round(sum(accuracy), 6) AS s FROM metrics").to_pylist() == [{"s": 1.8}]


def test_empty_store_has_empty_views(tmp_path):
    assert query(tmp_path, "SELECT count(*) AS n FROM scores").to_pylist() == [{"n": 0}]
    assert query(tmp_path, "SELECT count(*) AS n FROM turnover").to_pylist() == [{"n": 0}]
    assert query(tmp_path, "SELECT count(*) AS n FROM eval_items").to_pylist() == [{"n": 0}]


GAINED = """SELECT b.item_id, b.category, a.predicted AS was, b.predicted AS now FROM eval_items a JOIN eval_items b
  USING (run, item_id) WHERE run = 'demo' AND a.interval = 1 AND NOT a.correct AND b.interval = 2 AND b.correct"""
BY_CATEGORY = """SELECT category, model, interval, round(avg(correct::INT), 3) AS accuracy, count(*) AS items
  FROM eval_items WHERE run = 'demo' GROUP BY ALL ORDER BY category, interval NULLS FIRST"""


def test_the_readme_queries_over_eval_items(tmp_path):
    """The two queries the README shows, on items written by the store's own writer."""
    from edco.evaluation.items import item_table
    from edco.storage.store import RunStore

    store = RunStore(tmp_path / "demo")

    def items(predicted: str, categories=("net", "net", "radio")) -> dict:
        correct = [p == "A" for p in predicted]
        return {
            "item_id": ["q0", "q1", "q2"],
            "category": list(categories),
            "predicted": list(predicted),
            "correct": correct,
            "value": [0.5, 0.5, 0.5],
            "accuracy": [float(c) for c in correct],
        }

    store.write_eval_items(0, item_table("demo", 0, "accuracy", items("BBB"), items("BAB")))
    store.write_eval_items(1, item_table("demo", 1, "accuracy", items("ABB"), None))
    store.write_eval_items(2, item_table("demo", 2, "accuracy", items("AAA"), None))
    assert query(tmp_path, GAINED).to_pylist() == [
        {"item_id": "q1", "category": "net", "was": "B", "now": "A"},
        {"item_id": "q2", "category": "radio", "was": "B", "now": "A"},
    ]
    rows = query(tmp_path, BY_CATEGORY).to_pylist()
    assert [(r["category"], r["model"], r["interval"], r["accuracy"], r["items"]) for r in rows] == [
        ("net", "base", None, 0.5, 2),
        ("net", "trained", 0, 0.0, 2),
        ("net", "trained", 1, 0.5, 2),
        ("net", "trained", 2, 1.0, 2),
        ("radio", "base", None, 0.0, 1),
        ("radio", "trained", 0, 0.0, 1),
        ("radio", "trained", 1, 0.0, 1),
        ("radio", "trained", 2, 1.0, 1),
    ]


@pytest.mark.parametrize(
    "sql, message",
    [
        ("SELEC * FROM scores", "invalid SQL"),
        ("SELECT * FROM no_such_view", "query failed"),
        ("DROP VIEW scores", "DROP statements are not allowed"),
        ("CREATE TABLE t AS SELECT 1", "CREATE statements are not allowed"),
        ("COPY (SELECT 1) TO 'out.csv'", "COPY statements are not allowed"),
        ("ATTACH 'other.duckdb'", "ATTACH statements are not allowed"),
        ("SELECT 1; DROP VIEW scores", "exactly one statement"),
        ("SELECT * FROM read_csv('/etc/passwd')", "query failed"),
        ("SET enable_external_access = true", "SET statements are not allowed"),
    ],
)
def test_writes_and_escapes_are_refused(store, sql, message):
    with pytest.raises(QueryError, match=message):
        query(store, sql)
    assert not (store / "out.csv").exists() and not (store / "other.duckdb").exists()


def test_cli_sql_formats(store, capsys):
    sql = "SELECT interval, new FROM turnover ORDER BY interval"
    assert main(["sql", "--root", str(store), "--format", "json", sql]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"interval": 0, "new": 3},
        {"interval": 1, "new": 1},
        {"interval": 2, "new": 1},
    ]
    assert main(["sql", "--root", str(store), "--format", "csv", sql]) == 0
    assert capsys.readouterr().out.splitlines() == ['"interval","new"', "0,3", "1,1", "2,1"]
    assert main(["sql", "--root", str(store), "DROP VIEW scores"]) == 2
    assert "refused: DROP statements are not allowed" in capsys.readouterr().err


def test_root_defaults_to_the_edco_root_variable(store, monkeypatch, capsys):
    monkeypatch.setenv("EDCO_ROOT", str(store))
    assert main(["sql", "--format", "json", "SELECT count(*) AS n FROM scores"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 18}]
