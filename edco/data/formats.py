"""Which kind a source holds and which columns to read: from `data.kind`, the column map, and the
columns of its first row.

The contract's own column names (as the user's column map names them) are looked for first, so an
explicit map always wins; then the layouts users bring as they are, each read with no column map:
ShareGPT (`conversations` of {from, value}), TRL prompt-completion (`prompt`/`completion`:
strings are a reference record, message lists a conversation) and Alpaca
(`instruction`/`input`/`output`). Free-form rows without an id column get ids from their row numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edco.config.schema import ColumnMap, updated
from edco.data.kinds import Kind


@dataclass(frozen=True)
class Layout:
    """A known layout: its name, its kind, when a row has it, and the columns it maps."""

    name: str
    kind: Kind
    matches: Callable[[dict[str, Any], ColumnMap], bool]
    columns: dict[str, Any]


def _has(*names: str) -> Callable[[dict[str, Any], ColumnMap], bool]:
    return lambda row, _: all(name in row for name in names)


def _present(spec: str | list[str], row: dict[str, Any]) -> bool:
    return all(name in row for name in ([spec] if isinstance(spec, str) else spec))


LAYOUTS: tuple[Layout, ...] = (  # in order: a choice row that also has a `reference` column stays a choice row
    Layout("edco", "choice", lambda row, c: _present(c.choices, row) and c.answer in row, {}),
    Layout("edco", "chat", lambda row, c: _present(c.messages, row), {}),
    Layout("edco", "reference", lambda row, c: c.reference in row, {}),
    Layout("sharegpt", "chat", _has("conversations"), {"messages": "conversations"}),
    Layout(
        "prompt-completion (conversational)",
        "chat",
        lambda row, _: "completion" in row and isinstance(row.get("prompt"), list),
        {"messages": ["prompt", "completion"]},
    ),
    Layout(
        "prompt-completion",
        "reference",
        _has("prompt", "completion"),
        {"question": "prompt", "reference": "completion", "context": None, "system": None},
    ),
    Layout(
        "alpaca",
        "reference",
        _has("instruction", "output"),
        {"question": "instruction", "context": "input", "reference": "output", "system": "system"},
    ),
)


def resolve_layout(kind: str, columns: ColumnMap, first: Any) -> tuple[Kind, ColumnMap, str]:
    """(kind, the column map to read with, the layout's name) for a source whose first row is `first`.

    With `kind` named, only that kind's layouts are tried; when none matches (or the first row
    is unreadable) the contract's own names are used, so the validator names what is missing.
    """
    row = first if isinstance(first, dict) else {}
    candidates = [layout for layout in LAYOUTS if kind in ("auto", layout.kind)]
    for layout in candidates:
        if layout.matches(row, columns):
            mapped = dict(layout.columns)
            if layout.kind != "choice" and columns.id not in row:  # free-form data rarely carries ids
                mapped["id"] = None
            return layout.kind, updated(columns, **mapped), layout.name
    return ("choice" if kind == "auto" else kind), columns, "edco"  # type: ignore[return-value]
