"""One exception type per kind of failure, so the CLI can print one line and a hint.

Each error carries where it happened (file, row, field or key) because the person who
reads it has to fix their input, not our code.
"""

from __future__ import annotations


class EdcoError(Exception):
    """Base class: an expected failure caused by input or environment, not a bug."""

    exit_code = 2
    hint = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint


class ConfigError(EdcoError):
    """The configuration (YAML or CLI flags) is invalid."""

    hint = "check the config file against configs/demo.yaml and docs/CONFIG.md (every key, its default and meaning)"


class DataError(EdcoError):
    """A pool or eval record breaks the record contract.

    `problems` holds every bad row found, not only the first, so a user fixes a file once.
    """

    hint = "fix the rows named above, or set data.skip_invalid: true to quarantine them"

    def __init__(self, message: str, problems: list[RowProblem] | None = None, *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or []


class RowProblem:
    """One bad field of one row: enough to find it in an editor."""

    __slots__ = ("file", "row", "field", "reason")

    def __init__(self, file: str, row: int | None, field: str | None, reason: str) -> None:
        self.file, self.row, self.field, self.reason = file, row, field, reason

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.reason}"

    def __repr__(self) -> str:
        return f"RowProblem({self})"


class ModelError(EdcoError):
    """The model cannot be resolved, fetched or loaded."""

    hint = "use smollm2-135m-instruct, a local model folder, or a Hugging Face id with hub access"


class StoreError(EdcoError):
    """The run store is missing, locked, unwritable, corrupted or inconsistent with the config."""


class QueryError(EdcoError):
    """An `edco sql` query is invalid or tries to write."""

    hint = "only read-only SELECT queries over the views scores, metrics, turnover, judge_verdicts are allowed"
