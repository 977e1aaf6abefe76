"""The three kinds of record and their Parquet schemas: what a run's pool and eval set hold.

- `choice`: a question, 2-10 options and the gold option's index (multiple choice);
- `reference`: a question (an instruction), optional context and system prompt, and the reference
  answer to learn, with optional other acceptable answers (Alpaca, TRL prompt-completion);
- `chat`: a conversation whose last turn is the assistant's, the target (chat logs, ShareGPT).

A table's kind is read from its columns, so a run store written before free-form kinds existed
(the choice schema, unchanged) is still a valid store of `choice` records.
"""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa

Kind = Literal["choice", "reference", "chat"]
KINDS: tuple[Kind, ...] = ("choice", "reference", "chat")
ROLES = ("system", "user", "assistant")
LETTERS = "ABCDEFGHIJ"  # a choice record's option labels: it holds at most this many options

_ID = pa.field("id", pa.string(), nullable=False)
_CATEGORY = pa.field("category", pa.string(), nullable=True)
_ROW = pa.field("row", pa.int64(), nullable=False)
MESSAGE = pa.struct([pa.field("role", pa.string(), nullable=False), pa.field("content", pa.string(), nullable=False)])

SCHEMAS: dict[Kind, pa.Schema] = {
    "choice": pa.schema(
        [
            _ID,
            pa.field("question", pa.string(), nullable=False),
            pa.field("choices", pa.list_(pa.string()), nullable=False),
            pa.field("answer", pa.int32(), nullable=False),
            _CATEGORY,
            _ROW,
        ]
    ),
    "reference": pa.schema(
        [
            _ID,
            pa.field("question", pa.string(), nullable=False),
            pa.field("context", pa.string(), nullable=True),
            pa.field("system", pa.string(), nullable=True),
            pa.field("reference", pa.string(), nullable=False),
            pa.field("references", pa.list_(pa.string()), nullable=False),  # other acceptable answers
            _CATEGORY,
            _ROW,
        ]
    ),
    "chat": pa.schema(
        [
            _ID,
            pa.field("messages", pa.list_(MESSAGE), nullable=False),
            # The last user turn: what reports show and what the pool/eval overlap check compares.
            pa.field("question", pa.string(), nullable=False),
            _CATEGORY,
            _ROW,
        ]
    ),
}
_MARKERS: dict[str, Kind] = {"choices": "choice", "reference": "reference", "messages": "chat"}


def kind_of(table: pa.Table | pa.Schema) -> Kind:
    """The kind a table (or a Parquet file's schema) of records holds, told by the one column only
    that kind has."""
    names = table.names if isinstance(table, pa.Schema) else table.column_names
    for column, kind in _MARKERS.items():
        if column in names:
            return kind
    raise ValueError(f"not a table of records (columns: {', '.join(names)})")


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """The records as dicts, each with its `kind`: how prompts and targets are built from them."""
    kind = kind_of(table)
    return [{**row, "kind": kind} for row in table.to_pylist()]


def references(record: dict[str, Any]) -> list[str]:
    """Every acceptable answer of a free-form record: the reference (or last turn) first."""
    if record["kind"] == "chat":
        return [record["messages"][-1]["content"]]
    return [record["reference"], *record["references"]]


def prompt_texts(table: pa.Table) -> tuple[str, list[str]]:
    """What makes each record's question what it is, and the field that holds it: the question
    (choice), the question with its context (reference), every turn before the target (chat).
    An eval record whose prompt text is in the pool was trained on."""
    kind = kind_of(table)
    if kind == "choice":
        return "question", table["question"].to_pylist()
    if kind == "reference":
        return "question", [
            f"{r['question']}\n\n{r['context'] or ''}" for r in table.select(["question", "context"]).to_pylist()
        ]
    return "messages", ["\n\n".join(m["content"] for m in turns[:-1]) for turns in table["messages"].to_pylist()]
