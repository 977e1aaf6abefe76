"""Read-only DuckDB SQL over every run in a store.

The Parquet and JSON files are the tables; DuckDB only reads them, so `edco sql` can run
while a curriculum writes (writes are atomic renames). The connection is locked down:
one SELECT statement, file access limited to the store, configuration frozen.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa

from edco.errors import QueryError
from edco.storage.verdicts import FOLDER

SCORES_EMPTY = (
    "SELECT NULL::VARCHAR AS run, NULL::INTEGER AS interval, NULL::VARCHAR AS sample_id, NULL::DOUBLE AS score, "
    "NULL::INTEGER AS n_tokens, NULL::BIGINT AS model_tokens, NULL::VARCHAR AS signal, NULL::INTEGER AS scored_at, "
    "NULL::INTEGER AS rank, "
    "NULL::BOOLEAN AS selected WHERE false"
)
METRICS_EMPTY = "SELECT NULL::VARCHAR AS run, NULL::INTEGER AS interval, NULL::DOUBLE AS accuracy WHERE false"
VERDICTS_EMPTY = (
    "SELECT NULL::VARCHAR AS question, NULL::VARCHAR AS answer, NULL::VARCHAR AS reference, NULL::VARCHAR AS rubric, "
    "NULL::VARCHAR AS model, NULL::INTEGER AS max_tokens, NULL::BOOLEAN AS accepted, NULL::VARCHAR AS reply, "
    "NULL::VARCHAR AS run, NULL::INTEGER AS interval, NULL::DOUBLE AS asked_at WHERE false"
)
ITEMS_EMPTY = (
    "SELECT NULL::VARCHAR AS run, NULL::INTEGER AS interval, NULL::VARCHAR AS model, NULL::VARCHAR AS item_id, "
    "NULL::VARCHAR AS category, NULL::VARCHAR AS predicted, NULL::BOOLEAN AS correct, NULL::DOUBLE AS value, "
    "NULL::VARCHAR AS metric, NULL::DOUBLE AS metric_value WHERE false"
)

STAGES_EMPTY = (
    "SELECT NULL::VARCHAR AS run, NULL::INTEGER AS interval, NULL::VARCHAR AS stage, NULL::VARCHAR AS event, "
    "NULL::DOUBLE AS seconds, NULL::BIGINT AS pid, NULL::VARCHAR AS host, NULL::DOUBLE AS time, "
    "NULL::JSON AS environment WHERE false"
)
STAGES = (
    "(SELECT regexp_extract(filename, '([^/]+)/stages.jsonl$', 1) AS run, interval, stage, event, seconds, pid, host, "
    "time, environment FROM read_json({}, format = 'newline_delimited', filename = true, columns = {{interval: "
    "'INTEGER', stage: 'VARCHAR', event: 'VARCHAR', seconds: 'DOUBLE', pid: 'BIGINT', host: 'VARCHAR', "
    "time: 'DOUBLE', environment: 'JSON'}}))"
)

TURNOVER = """
WITH sel AS (SELECT run, interval, sample_id FROM scores WHERE selected),
first_seen AS (SELECT run, sample_id, min(interval) AS first_interval FROM sel GROUP BY run, sample_id)
SELECT s.run, s.interval,
       count(*) AS selected,
       count(*) FILTER (WHERE f.first_interval = s.interval) AS new,
       count(p.sample_id) AS retained,
       count(*) FILTER (WHERE f.first_interval < s.interval AND p.sample_id IS NULL) AS returned
FROM sel s
JOIN first_seen f ON f.run = s.run AND f.sample_id = s.sample_id
LEFT JOIN sel p ON p.run = s.run AND p.sample_id = s.sample_id AND p.interval = s.interval - 1
GROUP BY s.run, s.interval
"""


def connect(root: Path, spill: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose views read the store and that can write nowhere but `spill`.

    DuckDB may always read its temp directory (by default `./.tmp` under the current directory,
    outside the store), so it is pointed at `spill`, a fresh private folder the caller removes."""
    root = Path(root).resolve()
    con = duckdb.connect(":memory:")
    con.execute("SET temp_directory = ?", [str(spill)])
    con.execute("SET allowed_directories = [?]", [str(root)])
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    scores = _glob_view(root, "scores.parquet", "read_parquet({}, union_by_name = true)", SCORES_EMPTY)
    metrics = _glob_view(root, "metrics.json", "read_json_auto({}, union_by_name = true)", METRICS_EMPTY)
    items = _glob_view(root, "eval_items.parquet", "read_parquet({}, union_by_name = true)", ITEMS_EMPTY)
    stages = _glob_view(root, "stages.jsonl", STAGES, STAGES_EMPTY, "*")
    verdicts = _glob_view(root, "*.json", "read_json_auto({}, union_by_name = true)", VERDICTS_EMPTY, str(FOLDER))
    con.execute(f"CREATE VIEW scores AS {scores}")
    con.execute(f"CREATE VIEW metrics AS {metrics}")
    con.execute(f"CREATE VIEW eval_items AS {items}")
    con.execute(f"CREATE VIEW judge_verdicts AS {verdicts}")
    con.execute(f"CREATE VIEW turnover AS {TURNOVER}")
    con.execute(f"CREATE VIEW stages AS {stages}")
    con.execute("SET lock_configuration = true")
    return con


def _glob_view(root: Path, name: str, reader: str, empty: str, folder: str = "*/interval_*") -> str:
    pattern = f"{folder}/{name}"
    if not any(root.glob(pattern)):
        return empty
    return f"SELECT * FROM {reader.format(_quote(str(root / pattern)))}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def query(root: Path, sql: str, params: list[object] | None = None) -> pa.Table:
    """Run one read-only SELECT (with `?` placeholders bound to `params`); anything else is refused before it runs."""
    with tempfile.TemporaryDirectory(prefix="edco-sql-") as spill:
        return _query(connect(root, Path(spill)), sql, params)


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None) -> pa.Table:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"invalid SQL: {exc}") from None
    if len(statements) != 1:
        raise QueryError(f"expected exactly one statement, got {len(statements)}")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise QueryError(f"refused: {kind.name} statements are not allowed; the store is read-only")
    try:
        return con.sql(sql, params=params).to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {exc}") from None
    finally:
        con.close()
