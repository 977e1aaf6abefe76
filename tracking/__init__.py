"""Experiment tracking, kept out of the core and the store behind one small interface.

The flow talks to a `Tracker`; `tracking.mlflow_runs.MlflowTracker` is the one the project
ships (one MLflow run per curriculum). Every method is idempotent, because a resumed run
calls them again for intervals that a crash cut short.
"""

from __future__ import annotations

from typing import Protocol


class Tracker(Protocol):
    def start(self) -> str:
        """The tracking run of this curriculum run (created on first call), marked running; its id."""

    def log_interval(self, interval: int) -> int:
        """Log one finished interval (its metrics and the trainer's steps); how many values were new."""

    def finish(self, final_interval: int) -> None:
        """Attach the final checkpoint and mark the run finished."""

    def fail(self) -> None:
        """Mark the run failed (until a resume starts it again)."""
