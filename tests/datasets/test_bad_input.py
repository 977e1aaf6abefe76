"""Bad input, table-driven: each case gets the exact error class and a message that names the
file/row/field or key, and nothing is created or lost by a refused start."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from edco.config.schema import parse_config
from edco.errors import ConfigError, DataError, ModelError, QueryError, StoreError
from edco.flows.curriculum import create_or_check
from edco.storage.sql import query
from tests.helpers import tiny_config

GOOD = {"id": "x1", "question": "Fan tray 2 failed.", "choices": ["fan failure", "link down"], "answer": 0}


def jsonl(path: Path, rows: list) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def with_pool(rows: list, **overrides) -> Callable[[Path, Path], dict]:
    def build(tmp: Path, model: Path) -> dict:
        pool = jsonl(tmp / "pool.jsonl", rows)
        evals = jsonl(
            tmp / "eval.jsonl", [{**GOOD, "id": f"e{i}", "question": f"Held-out question {i}?"} for i in (1, 2)]
        )
        defaults = {"selection.top_n": 1, "model.max_length": 256}
        cfg = tiny_config(model, tmp / "store", **{**defaults, **overrides})
        cfg["data"] = {"pool": pool, "eval": evals}
        return cfg

    return build


def row(**changes) -> dict:
    out = {**GOOD, **changes}
    return {k: v for k, v in out.items() if v is not ...}


def good_rows(n: int = 3) -> list[dict]:
    return [row(id=f"p{i}", question=f"Pool question {i}?") for i in range(n)]


CASES = {
    "malformed JSON line": (with_pool([*good_rows(), '{"id": "p9", "question": ']), DataError, ["pool.jsonl", "row 4"]),
    "missing field": (
        with_pool([*good_rows(), row(id="p9", answer=...)]),
        DataError,
        ["pool.jsonl", "row 4", "'answer'", "missing"],
    ),
    "wrong type": (
        with_pool([row(id="p9", question=42), *good_rows()]),
        DataError,
        ["pool.jsonl", "row 1", "'question'"],
    ),
    "answer out of range": (with_pool([*good_rows(), row(id="p9", answer=5)]), DataError, ["row 4", "'answer'"]),
    "letter beyond the choices": (
        with_pool([*good_rows(), row(id="p9", answer="E")]),
        DataError,
        ["row 4", "'answer'"],
    ),
    "fewer than 2 choices": (
        with_pool([*good_rows(), row(id="p9", choices=["only"])]),
        DataError,
        ["row 4", "'choices'"],
    ),
    "duplicate ids": (with_pool([*good_rows(), row(id="p1")]), DataError, ["row 4", "'id'", "row 2"]),
    "empty question": (with_pool([*good_rows(), row(id="p9", question="  ")]), DataError, ["row 4", "'question'"]),
    "empty pool": (with_pool([]), DataError, ["pool.jsonl", "no records"]),
    "question longer than the context": (
        with_pool([*good_rows(), row(id="p9", question="word " * 400)]),
        DataError,
        ["pool.jsonl", "row 4", "'question'", "model.max_length 256"],
    ),
    "top_n larger than the pool": (
        with_pool(good_rows(), **{"selection.top_n": 9}),
        ConfigError,
        ["'selection.top_n'", "larger than the pool"],
    ),
    "unknown model name": (
        with_pool(good_rows(), **{"model.name": "no-such-model"}),
        ModelError,
        ["unknown model name 'no-such-model'"],
    ),
    "pool and eval share ids": (
        with_pool([row(id="e1"), *good_rows()]),
        DataError,
        ["eval.jsonl", "row 1", "'id'", "'e1'"],
    ),
    "pool and eval share a question": (
        with_pool([row(id="p9", question="Held-out question 2?"), *good_rows()]),
        DataError,
        ["eval.jsonl", "row 2", "'question'"],
    ),
}


@pytest.mark.parametrize("build, error, fragments", CASES.values(), ids=CASES.keys())
def test_bad_run_input_is_refused_before_anything_is_written(build, error, fragments, tmp_path, tiny_model_dir):
    data = build(tmp_path, tiny_model_dir)
    with pytest.raises(error) as info:
        create_or_check(parse_config(data))
    for fragment in fragments:
        assert fragment in str(info.value)
    assert not (tmp_path / "store" / "tiny").exists()


def test_non_utf8_bytes_name_file_and_row(tmp_path, tiny_model_dir):
    data = with_pool([])(tmp_path, tiny_model_dir)
    Path(data["data"]["pool"]).write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"id": "p2", "question": "caf\xe9"}\n')
    with pytest.raises(DataError) as info:
        create_or_check(parse_config(data))
    assert "pool.jsonl" in str(info.value) and "row 2" in str(info.value)


CONFIG_CASES = {
    "intervals 0": ({"curriculum": {"intervals": 0}}, "'curriculum.intervals'"),
    "intervals negative": ({"curriculum": {"intervals": -1}}, "'curriculum.intervals'"),
    "unknown key": ({"trainig": {"lr": 1}}, "unknown key 'trainig'"),
    "unknown nested key": ({"training": {"learning_rate": 1}}, "unknown key 'training.learning_rate'"),
    "run_name escapes the store": ({"run_name": "../../etc"}, "'run_name'"),
    "run_name with a slash": ({"run_name": "a/b"}, "'run_name'"),
}


@pytest.mark.parametrize("data, fragment", CONFIG_CASES.values(), ids=CONFIG_CASES.keys())
def test_bad_config_names_the_key(data, fragment):
    with pytest.raises(ConfigError) as info:
        parse_config({"run_name": "ok", **data}, "cfg.yaml")
    assert fragment in str(info.value) and "cfg.yaml" in str(info.value)


def test_unwritable_storage_root(tmp_path, tiny_model_dir):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    data = with_pool(good_rows())(tmp_path, tiny_model_dir)
    data["storage"]["root"] = str(blocker / "store")
    with pytest.raises(StoreError, match="not writable"):
        create_or_check(parse_config(data))


def test_unreadable_storage_root_on_resume(tmp_path, capsys):
    from edco.cli.app import main

    assert main(["resume", "nope", "--root", str(tmp_path / "missing")]) == 2
    assert "no run 'nope' in store" in capsys.readouterr().err


SQL_CASES = {
    "invalid SQL": ("SELEKT 1", "invalid SQL"),
    "write": ("INSERT INTO scores VALUES (1)", "INSERT statements are not allowed"),
    "attach a file": ("ATTACH 'x.duckdb' AS x", "ATTACH statements are not allowed"),
    "copy to a file": ("COPY (SELECT 1) TO 'x.csv'", "COPY statements are not allowed"),
    "read outside the store": ("SELECT * FROM read_text('/etc/hostname')", "query failed"),
}


@pytest.mark.parametrize("sql, fragment", SQL_CASES.values(), ids=SQL_CASES.keys())
def test_bad_sql_is_refused(sql, fragment, tmp_path):
    with pytest.raises(QueryError, match=fragment):
        query(tmp_path, sql)
    assert list(tmp_path.iterdir()) == []
