"""The contract's free-form kinds, field by field: `reference` (question -> reference answer) and
`chat` (a conversation whose last turn, the assistant's, is the target).

Same rules as the choice kind (`edco.data.records`): every field of a row is checked, each
problem named by its field, and nothing is guessed: a turn with an unknown role or non-string
content is refused rather than dropped, since dropping it would train on another conversation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edco.config.schema import ColumnMap
from edco.data.kinds import ROLES
from edco.data.records import (
    Invalid,
    as_list,
    collect,
    described,
    parse_category,
    parse_text,
    record_id,
    required,
    text,
    without_nul,
)

# ShareGPT's speaker names, and the roles they mean.
_SPEAKERS = {"human": "user", "gpt": "assistant", "system": "system", "user": "user", "assistant": "assistant"}

Problems = list[tuple[str | None, str]]


def checked_reference(raw: dict, row: int, columns: ColumnMap) -> tuple[dict, Problems]:
    problems: Problems = []

    def check(field: str | None, parse: Callable[..., Any], *args: Any) -> Any:
        return collect(problems, field, parse, raw, *args)

    record = {
        "id": record_id(raw, row, columns, problems),
        "question": check(columns.question, parse_text, columns.question),
        "context": check(columns.context, _optional_text, columns.context),
        "system": check(columns.system, _optional_text, columns.system),
        "reference": check(columns.reference, parse_text, columns.reference),
        "references": check(columns.references, _other_answers, columns.references),
        "category": check(columns.category, parse_category, columns.category),
        "row": row,
    }
    return record, problems


def checked_chat(raw: dict, row: int, columns: ColumnMap) -> tuple[dict, Problems]:
    problems: Problems = []
    spec = [columns.messages] if isinstance(columns.messages, str) else columns.messages
    rid = record_id(raw, row, columns, problems)
    messages = collect(problems, spec[0], _conversation, raw, spec)
    record = {
        "id": rid,
        "messages": messages,
        "question": None if messages is None else _last_user_turn(messages),
        "category": collect(problems, columns.category, parse_category, raw, columns.category),
        "row": row,
    }
    return record, problems


def _optional_text(raw: dict, column: str | None) -> str | None:
    """No column, a missing key, null and a blank cell all mean "none"; anything else must be text."""
    value = raw.get(column) if column is not None else None
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return text(value)


def _other_answers(raw: dict, column: str | None) -> list[str]:
    """Optional list of further acceptable answers (a JSON list string in a CSV cell)."""
    value = raw.get(column) if column is not None else None
    if value is None or value == "":
        return []
    answers = as_list(value)
    for number, answer in enumerate(answers, start=1):
        text(answer, f"{column}[{number}]")
    return answers


def _conversation(raw: dict, columns: list[str]) -> list[dict[str, str]]:
    """The turns of every column in order, as {role, content}; the last must be the assistant's,
    after a user turn that says something. A problem names the column and the turn in it."""
    messages: list[dict[str, str]] = []
    where: list[tuple[str, int]] = []  # (column, 1-based turn in that column) of each message
    for column in columns:
        for number, turn in enumerate(as_list(required(raw, column)), start=1):
            messages.append(_message(turn, number, column))
            where.append((column, number))
    if not messages:
        raise Invalid("no turns", columns[-1])
    column, number = where[-1]
    if messages[-1]["role"] != "assistant":
        reason = f"the last turn must be the assistant's (the target), got role {messages[-1]['role']!r}"
        raise Invalid(reason, column)
    text(messages[-1]["content"], f"{column}[{number}].content")
    users = [k for k, m in enumerate(messages[:-1]) if m["role"] == "user"]
    if not users:
        raise Invalid("no user turn before the assistant's last turn", column)
    user_column, user_number = where[users[-1]]
    text(messages[users[-1]]["content"], f"{user_column}[{user_number}].content")
    return messages


def _message(turn: Any, number: int, column: str) -> dict[str, str]:
    """One turn as {role, content}, from {role, content} or ShareGPT's {from, value}."""
    if not isinstance(turn, dict):
        raise Invalid(f"turn {number}: expected an object with role and content, got {described(turn)}", column)
    sharegpt = "from" in turn and "role" not in turn
    role, content = (turn.get("from"), turn.get("value")) if sharegpt else (turn.get("role"), turn.get("content"))
    known = _SPEAKERS if sharegpt else {r: r for r in ROLES}
    if role not in known:
        allowed = ", ".join(known)
        raise Invalid(f"turn {number}: unknown role {role!r} (expected one of {allowed})", column)
    if not isinstance(content, str):
        raise Invalid(f"turn {number}: content must be a string, got {described(content)}", column)
    return {"role": known[role], "content": without_nul(content, column, f"turn {number}: content ")}


def _last_user_turn(messages: list[dict[str, str]]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")
