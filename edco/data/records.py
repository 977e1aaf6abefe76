"""The record contract: the one schema every source is turned into, the one validator every
reader's rows pass through, and the quarantine of the rows it rejects.

Readers (`edco.datasets.readers`) only turn a format into `(row_number, raw)` pairs, where `raw`
is the row as a dict (or whatever a JSON line held, or an `Unreadable` when the line could not be
parsed at all). `validate_rows` consumes those pairs for every format, so a rule such as "letters
beyond the choices are rejected" holds for JSONL, CSV, Parquet, Hugging Face, the demo and TeleQnA
alike.

Validation collects every problem of the whole source before failing: a user with a 50,000-row
file should fix it once, not once per run. Row numbers are kept in the output table so that later
stages (tokenising, scoring) can still name the row they reject.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import pyarrow as pa

from edco.config.schema import ColumnMap
from edco.data.kinds import SCHEMAS, Kind, prompt_texts
from edco.data.prompts import LETTERS
from edco.errors import DataError, RowProblem

MIN_CHOICES = 2
MAX_CHOICES = len(LETTERS)
_SHOWN_PROBLEMS = 20
_SHOWN_IDS = 10

RECORD_SCHEMA = SCHEMAS["choice"]
"""The choice kind's schema, the one every store written before free-form kinds holds."""


@dataclass(frozen=True)
class LoadResult:
    """The valid records, plus the rows set aside when `skip_invalid` is on.

    Quarantined rows are returned rather than logged so the caller can write them into
    the run folder, where the user finds exactly what was left out of training.
    """

    table: pa.Table
    quarantined: list[dict]
    kind: Kind = "choice"
    format: str = "edco"  # the known layout the columns were read as (edco, alpaca, sharegpt, ...)


@dataclass(frozen=True)
class Unreadable:
    """A source row that could not be parsed at all; `raw` is its text, for the quarantine."""

    reason: str
    raw: str


class Rejected(NamedTuple):
    row: int
    raw: Any
    problems: list[RowProblem]


class Invalid(ValueError):
    """One field breaks the contract. `field` overrides the column being checked when a
    more precise one is known (an option column among several)."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.field = field


def check_disjoint(pool: pa.Table, eval: pa.Table) -> None:  # noqa: A002 - the public name
    """Refuse an eval set that shares ids or prompt texts (`edco.data.kinds.prompt_texts`) with the
    pool: accuracy on items the model was trained on would overstate what the curriculum achieved."""
    eval_source, pool_source = _source_of(eval), _source_of(pool)
    problems: list[RowProblem] = []
    (prompt_field, pool_prompts), (_, eval_prompts) = prompt_texts(pool), prompt_texts(eval)
    for field, key, pool_values, eval_values in (
        ("id", str, pool["id"].to_pylist(), eval["id"].to_pylist()),
        (prompt_field, _normalised, pool_prompts, eval_prompts),
    ):
        pool_rows = {key(v): row for v, row in zip(pool_values, pool.column("row").to_pylist())}
        problems += [
            RowProblem(
                eval_source,
                row,
                field,
                f"{field} {value!r:.80} is also in the pool {pool_source} (row {pool_rows[key(value)]})",
            )
            for value, row in zip(eval_values, eval.column("row").to_pylist())
            if key(value) in pool_rows
        ]
    if not problems:
        return
    listed = "\n".join(f"  {p}" for p in problems[:_SHOWN_IDS])
    more = f"\n  ... and {len(problems) - _SHOWN_IDS} more" if len(problems) > _SHOWN_IDS else ""
    raise DataError(
        f"{eval_source}: {len(problems)} eval item(s) also in the pool {pool_source}:\n{listed}{more}",
        problems,
        hint="an eval set must be held out: remove these items from one of the two sources",
    )


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


# --- validation ----------------------------------------------------------------------


def validate_rows(
    file: str, rows: Iterable[tuple[int, Any]], columns: ColumnMap, kind: Kind = "choice"
) -> tuple[list[dict], list[Rejected]]:
    """Check every row as a record of `kind`; ids are remembered from any row whose id is
    readable, so a later row reusing it is reported even when the first row has other problems."""
    from edco.data import freeform  # its parsers build on this module's helpers

    check = {"choice": _checked_record, "reference": freeform.checked_reference, "chat": freeform.checked_chat}[kind]
    records: list[dict] = []
    rejected: list[Rejected] = []
    first_row: dict[str, int] = {}
    for row, raw in rows:
        record, found = _row_object(raw) or check(raw, row, columns)
        rid = record.get("id")
        if rid in first_row:
            found.append((columns.id, f"duplicate id {rid!r} (first on row {first_row[rid]})"))
        elif rid is not None:
            first_row[rid] = row
        if found:
            rejected.append(Rejected(row, raw, [RowProblem(file, row, field, reason) for field, reason in found]))
        else:
            records.append(record)
    return records, rejected


def _row_object(raw: Any) -> tuple[dict, list[tuple[str | None, str]]] | None:
    """The problem of a row that is not an object at all, else None."""
    if isinstance(raw, Unreadable):
        return {}, [(None, raw.reason)]
    if not isinstance(raw, dict):
        return {}, [(None, f"expected an object, got {described(raw)}")]
    return None


def record_id(raw: dict, row: int, columns: ColumnMap, problems: list[tuple[str | None, str]]) -> str | None:
    """The row's id from its column, or `row-N` when ids are derived from row numbers."""
    return f"row-{row}" if columns.id is None else collect(problems, columns.id, _parse_id, raw, columns.id)


def _checked_record(raw: dict, row: int, columns: ColumnMap) -> tuple[dict, list[tuple[str | None, str]]]:
    """Parse each field of one choice row into the contract, collecting every field's problem
    rather than stopping at the first."""
    problems: list[tuple[str | None, str]] = []

    def check(field: str | None, parse: Callable[..., Any], *args: Any) -> Any:
        return collect(problems, field, parse, raw, *args)

    rid = record_id(raw, row, columns, problems)
    question = check(columns.question, parse_text, columns.question)
    choices_field = columns.choices if isinstance(columns.choices, str) else "choices"
    choices = check(choices_field, _parse_choices, columns.choices)
    record = {
        "id": rid,
        "question": question,
        "choices": choices,
        "answer": check(columns.answer, _parse_answer, columns.answer, choices),
        "category": check(columns.category, parse_category, columns.category),
        "row": row,
    }
    return record, problems


def collect(problems: list[tuple[str | None, str]], field: str | None, parse: Callable[..., Any], *args: Any) -> Any:
    """`parse(*args)`, or None with its problem added as (field, reason) when it raises
    `Invalid`, so that every field of a row is checked rather than only the first."""
    try:
        return parse(*args)
    except Invalid as exc:
        problems.append((exc.field or field, str(exc)))
        return None


def required(raw: dict, column: str) -> Any:
    """The value of `column`; absent and null are both "missing"."""
    value = raw.get(column)
    if value is None:
        raise Invalid("missing", field=column)
    return value


def _parse_id(raw: dict, column: str) -> str:
    value = required(raw, column)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)


def parse_text(raw: dict, column: str) -> str:
    return text(required(raw, column))


def text(value: Any, field: str | None = None, *, show_value: bool = True) -> str:
    """A non-blank string; `field` names the field in the problem, `show_value` whether a
    value of another type is shown as well as its type."""
    if not isinstance(value, str):
        raise Invalid(f"expected a string, got {described(value) if show_value else type(value).__name__}", field)
    if not value.strip():
        raise Invalid("empty", field)
    return without_nul(value, field)


def without_nul(value: str, field: str | None = None, what: str = "") -> str:
    """`value`, refused when it holds a NUL character: an escaped \\u0000 in JSON is valid text, but
    in a prompt it is a byte no tokenizer was trained on, and in a record almost always a sign of a
    corrupted export; stored silently, it would be trained on."""
    at = value.find("\x00")
    if at >= 0:
        raise Invalid(f"{what}contains a NUL character (\\u0000) at character {at}", field)
    return value


def _parse_choices(raw: dict, spec: str | list[str]) -> list[str]:
    options = _option_cells(raw, spec) if isinstance(spec, list) else as_list(required(raw, spec))
    if not MIN_CHOICES <= len(options) <= MAX_CHOICES:
        raise Invalid(f"needs {MIN_CHOICES} to {MAX_CHOICES} choices, got {len(options)}")
    for number, option in enumerate(options, start=1):
        if not isinstance(option, str):
            raise Invalid(f"choice {number} must be a string, got {described(option)}")
        if not option.strip():
            raise Invalid(f"choice {number} is empty")
        without_nul(option, what=f"choice {number} ")
    return options


def _option_cells(raw: dict, columns: list[str]) -> list[Any]:
    """One option per column; empty cells are dropped so questions with fewer options can
    share a table (or a CSV) with questions that have more."""
    missing = [column for column in columns if column not in raw]
    if missing:
        raise Invalid("missing", field=missing[0])
    return [raw[column] for column in columns if not (raw[column] is None or raw[column] == "")]


def as_list(value: Any) -> list[Any]:
    """Choices may be a list, a dict of options in key order (MedQA's {"A": ..}), or a
    JSON list held in a string (how a CSV cell stores a list)."""
    if isinstance(value, str):
        value = _json_list(value)
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return value
    raise Invalid(f"expected a list or a dict, got {described(value)}")


def _json_list(cell: str) -> Any:
    try:
        parsed = json.loads(cell)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, (list, dict)):
        raise Invalid(f"expected a list or a JSON list string, got {described(cell)}")
    return parsed


def _parse_answer(raw: dict, column: str, choices: list[str] | None) -> int:
    """The range is checked only when the choices are valid; otherwise only the type is."""
    value = required(raw, column)
    index = _answer_index(value)
    if choices is None:
        return index
    last = len(choices) - 1
    if isinstance(value, str) and value.strip().isalpha() and index > last:
        raise Invalid(f"letter {value.strip()!r} is beyond the {len(choices)} choices (A-{LETTERS[last]})")
    if not 0 <= index <= last:
        raise Invalid(f"index {index} is out of range 0-{last} for {len(choices)} choices")
    return index


def _answer_index(value: Any) -> int:
    """0-based int (also an integral float or a digit string, as CSV and pandas store them)
    or a letter A-J / a-j; a one-element list (AGIEval's JEC-QA `gold`) holds one of these."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise Invalid(f"multi-answer questions are not supported (got {len(value)} answers)")
        return _answer_index(value[0])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        stripped = value.strip()
        if len(stripped) == 1 and stripped.upper() in LETTERS:
            return LETTERS.index(stripped.upper())
        if stripped.lstrip("-").isdigit():
            return int(stripped)
    raise Invalid(f"expected a 0-based index or a letter A-J, got {described(value)}")


def parse_category(raw: dict, column: str | None) -> str | None:
    """Optional: no column, a missing key, null and a blank cell all mean "no category"."""
    value = raw.get(column) if column is not None else None
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"expected a string or null, got {described(value)}")
    return without_nul(value) if value.strip() else None


# --- reporting -----------------------------------------------------------------------


def shown(value: Any) -> str:
    """`repr(value)`, cut to 60 characters so that one problem stays one line."""
    full = repr(value)
    return full if len(full) <= 60 else full[:57] + "..."


def described(value: Any) -> str:
    """A value's type and its (shortened) repr, as problems show it."""
    return f"{type(value).__name__} {shown(value)}"


def source_error(file: str, reason: str, *, hint: str = "") -> DataError:
    """A problem of the source as a whole (or of a part no row number can name)."""
    problem = RowProblem(file, None, None, reason)
    return DataError(str(problem), [problem], hint=hint)


def problems_error(header: str, problems: list[RowProblem], *, hint: str = "") -> DataError:
    """One error: `header`, then the first problems one a line, then how many more there are."""
    lines = [header]
    lines += [f"  - {problem}" for problem in problems[:_SHOWN_PROBLEMS]]
    if len(problems) > _SHOWN_PROBLEMS:
        lines.append(f"  ... and {len(problems) - _SHOWN_PROBLEMS} more")
    return DataError("\n".join(lines), problems, hint=hint)


def invalid_rows_error(file: str, rejected: list[Rejected]) -> DataError:
    problems = [problem for entry in rejected for problem in entry.problems]
    return problems_error(f"{file}: {len(rejected)} invalid row(s)", problems)


def quarantine_entry(file: str, rejected: Rejected) -> dict:
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
    if isinstance(raw, Unreadable):
        return raw.raw
    return json.loads(json.dumps(raw, default=str))


def _source_of(table: pa.Table) -> str:
    return (table.schema.metadata or {}).get(b"source", b"<table>").decode()
