"""Load pool and eval records from any supported source into one validated Arrow table.

Every reader only turns its format into `(row_number, raw)` pairs, where `raw` is the
row as a dict (or whatever a JSON line held, or an `_Unreadable` when the line could not
be parsed at all). One validator consumes those pairs for every format, so a rule such as
"letters beyond the choices are rejected" holds for JSONL, CSV, Parquet, Hugging Face and
the demo alike.

Validation collects every problem of the whole source before failing: a user with a
50,000-row file should fix it once, not once per run. Row numbers are kept in the output
table so that later stages (tokenising, scoring) can still name the row they reject.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from edco.config import ColumnMap
from edco.errors import DataError, RowProblem
from edco.prompts import LETTERS

MIN_CHOICES = 2
MAX_CHOICES = len(LETTERS)
_SHOWN_PROBLEMS = 20
_SHOWN_IDS = 10
_FORMATS = ".jsonl, .json, .csv, .parquet, demo or hf:..."

RECORD_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("question", pa.string(), nullable=False),
        pa.field("choices", pa.list_(pa.string()), nullable=False),
        pa.field("answer", pa.int32(), nullable=False),
        pa.field("category", pa.string(), nullable=True),
        pa.field("row", pa.int64(), nullable=False),
    ]
)

Rows = Iterator[tuple[int, Any]]


@dataclass(frozen=True)
class LoadResult:
    """The valid records, plus the rows set aside when `skip_invalid` is on.

    Quarantined rows are returned rather than logged so the caller can write them into
    the run folder, where the user finds exactly what was left out of training.
    """

    table: pa.Table
    quarantined: list[dict]


@dataclass(frozen=True)
class _Unreadable:
    """A source row that could not be parsed at all; `raw` is its text, for the quarantine."""

    reason: str
    raw: str


class _Rejected(NamedTuple):
    row: int
    raw: Any
    problems: list[RowProblem]


class _Invalid(ValueError):
    """One field breaks the contract. `field` overrides the column being checked when a
    more precise one is known (an option column among several)."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.field = field


def load_records(
    spec: str,
    columns: ColumnMap,
    *,
    limit: int | None = None,
    seed: int = 0,
    split: str = "pool",
    skip_invalid: bool = False,
) -> LoadResult:
    """Read `spec`, keep its first `limit` rows, validate them all, and return the table.

    `spec` is "demo" (records from `edco.demo` for `split` "pool" or "eval"; `seed` only
    matters here), a .jsonl/.json/.csv/.parquet path, or "hf:<id or dir>[:split]".
    The `row` column is the row number a user finds the record at: the line number for
    JSONL (blank lines count), the 1-based position for JSON, Parquet, Hugging Face and the
    demo, and for CSV the spreadsheet row with the header as row 1 (first data row is 2).

    The limit is applied before validation, so a bad row past it never blocks a small run.
    Raises DataError listing every problem unless `skip_invalid`, in which case each bad
    row (and every later duplicate of an id) goes to `quarantined`.
    """
    file, columns, rows = _open_source(spec, columns, split=split, seed=seed, limit=limit)
    kept = list(islice(rows, limit))
    if not kept:
        raise _source_error(file, "no records")
    records, rejected = _validate(file, kept, columns)
    if rejected and not skip_invalid:
        raise _invalid_rows_error(file, rejected)
    if not records:
        raise _source_error(file, f"no valid records ({len(rejected)} quarantined)")
    if columns.id is None:  # derived ids carry the split, so a pool and an eval set never collide
        records = [{**r, "id": f"{split}-{r['id']}"} for r in records]
    table = pa.Table.from_pylist(records, schema=RECORD_SCHEMA)
    return LoadResult(
        table=table.replace_schema_metadata({b"source": spec.encode()}),
        quarantined=[_quarantine_entry(file, rejected_row) for rejected_row in rejected],
    )


def check_disjoint(pool: pa.Table, eval: pa.Table) -> None:  # noqa: A002 - the public name
    """Refuse an eval set that shares ids or question texts with the pool: accuracy on items
    the model was trained on would overstate what the curriculum achieved."""
    eval_source, pool_source = _source_of(eval), _source_of(pool)
    problems: list[RowProblem] = []
    for field, key in (("id", str), ("question", _normalised)):
        pool_rows = {key(v): row for v, row in zip(pool.column(field).to_pylist(), pool.column("row").to_pylist())}
        problems += [
            RowProblem(eval_source, row, field, f"{field} {value!r:.80} is also in the pool {pool_source} (row {pool_rows[key(value)]})")
            for value, row in zip(eval.column(field).to_pylist(), eval.column("row").to_pylist())
            if key(value) in pool_rows
        ]
    if not problems:
        return
    shown = "\n".join(f"  {p}" for p in problems[:_SHOWN_IDS])
    more = f"\n  ... and {len(problems) - _SHOWN_IDS} more" if len(problems) > _SHOWN_IDS else ""
    raise DataError(
        f"{eval_source}: {len(problems)} eval item(s) also in the pool {pool_source}:\n{shown}{more}",
        problems,
        hint="an eval set must be held out: remove these items from one of the two sources",
    )


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


# --- sources -------------------------------------------------------------------------


def _open_source(
    spec: str, columns: ColumnMap, *, split: str, seed: int, limit: int | None
) -> tuple[str, ColumnMap, Rows]:
    """Pick the reader for `spec`; returns the name used in messages, the column map that
    applies, and the rows."""
    if spec == "demo":
        # The demo always uses the contract's own names, even when the user's column map
        # describes the other source (e.g. a custom pool evaluated on the demo eval set).
        return f"demo:{split}", ColumnMap(), _demo_rows(split, seed, limit)
    if spec.startswith("hf:"):
        return spec, columns, _hf_rows(spec)
    path = Path(spec)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        found = f"'{path.suffix}'" if path.suffix else "(no extension)"
        raise _source_error(str(path), f"unsupported format {found} (use {_FORMATS})")
    if not path.is_file():
        raise _source_error(str(path), "no such file")
    return str(path), columns, reader(path)


def _demo_rows(split: str, seed: int, limit: int | None) -> Rows:
    """Imported here so that loading a user's file never depends on the demo module."""
    from edco import demo

    yield from enumerate(demo.generate(split, seed, limit), start=1)


def _jsonl_rows(path: Path) -> Rows:
    """Each line is decoded on its own so a bad byte or bad JSON is pinned to its line and
    every other line is still checked."""
    for number, line in enumerate(_read_bytes(path).splitlines(), start=1):
        if line.strip():
            yield number, _parse_json_line(line)


def _parse_json_line(line: bytes) -> Any:
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"not valid UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1})"
        return _Unreadable(reason, line.decode("utf-8", errors="replace"))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return _Unreadable(f"malformed JSON: {exc.msg} at column {exc.colno}", text)


def _json_rows(path: Path) -> Rows:
    text = _decode_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _source_error(str(path), f"line {exc.lineno}: malformed JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, list):
        raise _source_error(str(path), f"expected a JSON array of objects, got {type(data).__name__}")
    yield from enumerate(data, start=1)


def _csv_rows(path: Path) -> Rows:
    """Rows are numbered as a spreadsheet shows them: the header is row 1, blank lines count."""
    reader = csv.reader(io.StringIO(_decode_text(path), newline=""))
    try:
        header = next(reader, [])
        for number, cells in enumerate(reader, start=2):
            if cells:
                yield number, _csv_record(header, cells)
    except csv.Error as exc:
        raise _source_error(str(path), f"line {reader.line_num}: {exc}") from None


def _csv_record(header: list[str], cells: list[str]) -> dict[str, str] | _Unreadable:
    if len(cells) != len(header):
        line = io.StringIO()
        csv.writer(line).writerow(cells)
        return _Unreadable(f"{len(cells)} cells but the header has {len(header)}", line.getvalue().rstrip("\r\n"))
    return dict(zip(header, cells))


def _parquet_rows(path: Path) -> Rows:
    try:
        batches = pq.ParquetFile(path).iter_batches()
        yield from enumerate((row for batch in batches for row in batch.to_pylist()), start=1)
    except (pa.ArrowException, OSError) as exc:
        raise _source_error(str(path), f"cannot read it as Parquet ({exc})") from None


def _hf_rows(spec: str) -> Rows:
    yield from enumerate(_hf_dataset(spec), start=1)


def _hf_dataset(spec: str) -> Any:
    """A local `save_to_disk` folder or a Hub dataset; `datasets` is imported only here
    because it is slow to import and most runs never need it."""
    import datasets

    name, split = _split_hf_spec(spec)
    try:
        if not Path(name).is_dir():
            return datasets.load_dataset(name, split=split or "train")
        loaded = datasets.load_from_disk(name)
    except Exception as exc:  # datasets raises many unrelated types; all mean "cannot load"
        raise _source_error(spec, f"cannot load the dataset ({type(exc).__name__}: {exc})") from exc
    if not isinstance(loaded, datasets.DatasetDict):
        if split:
            raise _source_error(spec, f"the folder holds one dataset without splits; drop ':{split}'")
        return loaded
    wanted = split or "train"
    if wanted not in loaded:
        raise _source_error(spec, f"no split '{wanted}' (available: {', '.join(loaded)})")
    return loaded[wanted]


def _split_hf_spec(spec: str) -> tuple[str, str | None]:
    """"hf:/abs/dir:test" -> ("/abs/dir", "test"). Only the last colon can start a split,
    and only when no "/" follows it, so paths and "org/name" ids survive intact."""
    body = spec.removeprefix("hf:")
    name, colon, tail = body.rpartition(":")
    if colon and name and tail and "/" not in tail:
        return name, tail
    return body, None


_READERS: dict[str, Callable[[Path], Rows]] = {
    ".jsonl": _jsonl_rows,
    ".json": _json_rows,
    ".csv": _csv_rows,
    ".parquet": _parquet_rows,
}


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _source_error(str(path), f"cannot read ({exc.strerror})") from None


def _decode_text(path: Path) -> str:
    """Whole-file formats cannot be parsed past a bad byte, so the first one stops the
    load; its line is found from the byte offset."""
    data = _read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        reason = f"line {line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        raise _source_error(str(path), reason) from None


# --- validation ----------------------------------------------------------------------


def _validate(file: str, rows: Iterable[tuple[int, Any]], columns: ColumnMap) -> tuple[list[dict], list[_Rejected]]:
    """Check every row; ids are remembered from any row whose id is readable, so a later
    row reusing it is reported even when the first row has other problems."""
    records: list[dict] = []
    rejected: list[_Rejected] = []
    first_row: dict[str, int] = {}
    for row, raw in rows:
        record, found = _checked_record(raw, row, columns)
        rid = record.get("id")
        if rid in first_row:
            found.append((columns.id, f"duplicate id {rid!r} (first on row {first_row[rid]})"))
        elif rid is not None:
            first_row[rid] = row
        if found:
            rejected.append(_Rejected(row, raw, [RowProblem(file, row, field, reason) for field, reason in found]))
        else:
            records.append(record)
    return records, rejected


def _checked_record(raw: Any, row: int, columns: ColumnMap) -> tuple[dict, list[tuple[str | None, str]]]:
    """Parse each field of one row into the contract, collecting every field's problem
    rather than stopping at the first."""
    if isinstance(raw, _Unreadable):
        return {}, [(None, raw.reason)]
    if not isinstance(raw, dict):
        return {}, [(None, f"expected an object, got {_kind(raw)}")]
    problems: list[tuple[str | None, str]] = []

    def check(field: str | None, parse: Callable[..., Any], *args: Any) -> Any:
        try:
            return parse(raw, *args)
        except _Invalid as exc:
            problems.append((exc.field or field, str(exc)))
            return None

    rid = f"row-{row}" if columns.id is None else check(columns.id, _parse_id, columns.id)
    question = check(columns.question, _parse_text, columns.question)
    choices_field = columns.choices if isinstance(columns.choices, str) else "choices"
    choices = check(choices_field, _parse_choices, columns.choices)
    record = {
        "id": rid,
        "question": question,
        "choices": choices,
        "answer": check(columns.answer, _parse_answer, columns.answer, choices),
        "category": check(columns.category, _parse_category, columns.category),
        "row": row,
    }
    return record, problems


def _required(raw: dict, column: str) -> Any:
    value = raw.get(column)
    if value is None:
        raise _Invalid("missing")
    return value


def _parse_id(raw: dict, column: str) -> str:
    value = _required(raw, column)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value)


def _parse_text(raw: dict, column: str) -> str:
    return _text(_required(raw, column))


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {_kind(value)}")
    if not value.strip():
        raise _Invalid("empty")
    return value


def _parse_choices(raw: dict, spec: str | list[str]) -> list[str]:
    options = _option_cells(raw, spec) if isinstance(spec, list) else _as_list(_required(raw, spec))
    if not MIN_CHOICES <= len(options) <= MAX_CHOICES:
        raise _Invalid(f"needs {MIN_CHOICES} to {MAX_CHOICES} choices, got {len(options)}")
    for number, option in enumerate(options, start=1):
        if not isinstance(option, str):
            raise _Invalid(f"choice {number} must be a string, got {_kind(option)}")
        if not option.strip():
            raise _Invalid(f"choice {number} is empty")
    return options


def _option_cells(raw: dict, columns: list[str]) -> list[Any]:
    """One option per column; empty cells are dropped so questions with fewer options can
    share a table (or a CSV) with questions that have more."""
    missing = [column for column in columns if column not in raw]
    if missing:
        raise _Invalid("missing", field=missing[0])
    return [raw[column] for column in columns if not (raw[column] is None or raw[column] == "")]


def _as_list(value: Any) -> list[Any]:
    """Choices may be a list, a dict of options in key order (MedQA's {"A": ..}), or a
    JSON list held in a string (how a CSV cell stores a list)."""
    if isinstance(value, str):
        value = _json_list(value)
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return value
    raise _Invalid(f"expected a list or a dict, got {_kind(value)}")


def _json_list(text: str) -> Any:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, (list, dict)):
        raise _Invalid(f"expected a list or a JSON list string, got {_kind(text)}")
    return parsed


def _parse_answer(raw: dict, column: str, choices: list[str] | None) -> int:
    """The range is checked only when the choices are valid; otherwise only the type is."""
    value = _required(raw, column)
    index = _answer_index(value)
    if choices is None:
        return index
    last = len(choices) - 1
    if isinstance(value, str) and value.strip().isalpha() and index > last:
        raise _Invalid(f"letter {value.strip()!r} is beyond the {len(choices)} choices (A-{LETTERS[last]})")
    if not 0 <= index <= last:
        raise _Invalid(f"index {index} is out of range 0-{last} for {len(choices)} choices")
    return index


def _answer_index(value: Any) -> int:
    """0-based int (also an integral float or a digit string, as CSV and pandas store them)
    or a letter A-J / a-j; a one-element list (AGIEval's JEC-QA `gold`) holds one of these."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise _Invalid(f"multi-answer questions are not supported (got {len(value)} answers)")
        return _answer_index(value[0])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 1 and text.upper() in LETTERS:
            return LETTERS.index(text.upper())
        if text.lstrip("-").isdigit():
            return int(text)
    raise _Invalid(f"expected a 0-based index or a letter A-J, got {_kind(value)}")


def _parse_category(raw: dict, column: str | None) -> str | None:
    """Optional: no column, a missing key, null and a blank cell all mean "no category"."""
    value = raw.get(column) if column is not None else None
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(f"expected a string or null, got {_kind(value)}")
    return value if value.strip() else None


# --- reporting -----------------------------------------------------------------------


def _kind(value: Any) -> str:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{type(value).__name__} {shown}"


def _source_error(file: str, reason: str) -> DataError:
    """A problem of the source as a whole (or of a part no row number can name)."""
    problem = RowProblem(file, None, None, reason)
    return DataError(str(problem), [problem])


def _invalid_rows_error(file: str, rejected: list[_Rejected]) -> DataError:
    problems = [problem for entry in rejected for problem in entry.problems]
    lines = [f"{file}: {len(rejected)} invalid row(s)"]
    lines += [f"  - {problem}" for problem in problems[:_SHOWN_PROBLEMS]]
    if len(problems) > _SHOWN_PROBLEMS:
        lines.append(f"  ... and {len(problems) - _SHOWN_PROBLEMS} more")
    return DataError("\n".join(lines), problems)


def _quarantine_entry(file: str, rejected: _Rejected) -> dict:
    first = rejected.problems[0]
    return {
        "file": file,
        "row": rejected.row,
        "field": first.field,
        "reason": "; ".join(f"'{p.field}': {p.reason}" if p.field else p.reason for p in rejected.problems),
        "raw": _jsonable(rejected.raw),
    }


def _jsonable(raw: Any) -> Any:
    """The quarantine is written as JSON; Parquet and datasets rows may hold dates or bytes."""
    if isinstance(raw, _Unreadable):
        return raw.raw
    return json.loads(json.dumps(raw, default=str))


def _source_of(table: pa.Table) -> str:
    return (table.schema.metadata or {}).get(b"source", b"<table>").decode()
