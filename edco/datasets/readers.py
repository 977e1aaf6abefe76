"""Where records come from: one reader per source format, each turning its rows into
`(row_number, raw)` pairs for the contract's validator (`edco.data.records`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from edco.config.schema import ColumnMap
from edco.data.formats import resolve_layout
from edco.data.kinds import SCHEMAS
from edco.data.records import (
    LoadResult,
    Unreadable,
    invalid_rows_error,
    quarantine_entry,
    source_error,
    validate_rows,
)

_FORMATS = ".jsonl, .json, .csv, .parquet, demo or hf:..."

Rows = Iterator[tuple[int, Any]]


def load_records(
    spec: str,
    columns: ColumnMap,
    *,
    limit: int | None = None,
    seed: int = 0,
    split: str = "pool",
    skip_invalid: bool = False,
    kind: str = "auto",
) -> LoadResult:
    """Read `spec`, keep its first `limit` rows, validate them all, and return the table.

    `spec` is "demo" (records from `edco.datasets.demo` for `split` "pool" or "eval"; `seed` only
    matters here), a .jsonl/.json/.csv/.parquet path, or "hf:<id or dir>[:split]".
    The `row` column is the row number a user finds the record at: the line number for
    JSONL (blank lines count), the 1-based position for JSON, Parquet, Hugging Face and the
    demo, and for CSV the spreadsheet row with the header as row 1 (first data row is 2).

    `kind` ("auto", "choice", "reference", "chat") and the first row's columns decide how the
    rows are read (`edco.data.formats`): Alpaca, TRL prompt-completion and ShareGPT files load
    with the default column map.

    The limit is applied before validation, so a bad row past it never blocks a small run.
    Raises DataError listing every problem unless `skip_invalid`, in which case each bad
    row (and every later duplicate of an id) goes to `quarantined`.
    """
    file, columns, rows = _open_source(spec, columns, split=split, seed=seed, limit=limit, kind=kind)
    kept = list(islice(rows, limit))
    if not kept:
        raise source_error(file, "no records")
    kind, columns, layout = resolve_layout(kind, columns, kept[0][1])
    records, rejected = validate_rows(file, kept, columns, kind)
    if rejected and not skip_invalid:
        raise invalid_rows_error(file, rejected)
    if not records:
        raise source_error(file, f"no valid records ({len(rejected)} quarantined)")
    if columns.id is None:  # derived ids carry the split, so a pool and an eval set never collide
        records = [{**r, "id": f"{split}-{r['id']}"} for r in records]
    table = pa.Table.from_pylist(records, schema=SCHEMAS[kind])
    return LoadResult(
        table=table.replace_schema_metadata({b"source": spec.encode()}),
        quarantined=[quarantine_entry(file, rejected_row) for rejected_row in rejected],
        kind=kind,
        format=layout,
    )


def _open_source(
    spec: str, columns: ColumnMap, *, split: str, seed: int, limit: int | None, kind: str
) -> tuple[str, ColumnMap, Rows]:
    """Pick the reader for `spec`; returns the name used in messages, the column map that
    applies, and the rows."""
    if spec == "demo":
        # The demo always uses the contract's own names, even when the user's column map
        # describes the other source (e.g. a custom pool evaluated on the demo eval set).
        demo_kind = "choice" if kind == "auto" else kind
        return f"demo:{split}", ColumnMap(), _demo_rows(split, seed, limit, demo_kind)
    if spec.startswith("hf:"):
        return spec, columns, _hf_rows(spec)
    path = Path(spec)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        found = f"'{path.suffix}'" if path.suffix else "(no extension)"
        raise source_error(str(path), f"unsupported format {found} (use {_FORMATS})")
    if not path.is_file():
        raise source_error(str(path), "no such file")
    return str(path), columns, reader(path)


def _demo_rows(split: str, seed: int, limit: int | None, kind: str) -> Rows:
    """Imported here so that loading a user's file never depends on the demo module."""
    from edco.datasets import demo

    yield from enumerate(demo.generate(split, seed, limit, kind), start=1)


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
        return Unreadable(reason, line.decode("utf-8", errors="replace"))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return Unreadable(f"malformed JSON: {exc.msg} at column {exc.colno}", text)


def _json_rows(path: Path) -> Rows:
    text = _decode_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise source_error(str(path), f"line {exc.lineno}: malformed JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, list):
        raise source_error(str(path), f"expected a JSON array of objects, got {type(data).__name__}")
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
        raise source_error(str(path), f"line {reader.line_num}: {exc}") from None


def _csv_record(header: list[str], cells: list[str]) -> dict[str, str] | Unreadable:
    if len(cells) != len(header):
        line = io.StringIO()
        csv.writer(line).writerow(cells)
        return Unreadable(f"{len(cells)} cells but the header has {len(header)}", line.getvalue().rstrip("\r\n"))
    return dict(zip(header, cells))


def _parquet_rows(path: Path) -> Rows:
    try:
        batches = pq.ParquetFile(path).iter_batches()
        yield from enumerate((row for batch in batches for row in batch.to_pylist()), start=1)
    except (pa.ArrowException, OSError) as exc:
        raise source_error(str(path), f"cannot read it as Parquet ({exc})") from None


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
        raise source_error(spec, f"cannot load the dataset ({type(exc).__name__}: {exc})") from exc
    if not isinstance(loaded, datasets.DatasetDict):
        if split:
            raise source_error(spec, f"the folder holds one dataset without splits; drop ':{split}'")
        return loaded
    wanted = split or "train"
    if wanted not in loaded:
        raise source_error(spec, f"no split '{wanted}' (available: {', '.join(loaded)})")
    return loaded[wanted]


def _split_hf_spec(spec: str) -> tuple[str, str | None]:
    """ "hf:/abs/dir:test" -> ("/abs/dir", "test"). Only the last colon can start a split,
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
        raise source_error(str(path), f"cannot read ({exc.strerror})") from None


def _decode_text(path: Path) -> str:
    """Whole-file formats cannot be parsed past a bad byte, so the first one stops the
    load; its line is found from the byte offset."""
    data = _read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        reason = f"line {line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        raise source_error(str(path), reason) from None
