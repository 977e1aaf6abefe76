"""Stage progress on the console while a run or a comparison runs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from edco.cli import output
from edco.errors import EdcoError

if TYPE_CHECKING:
    from edco.tasks.stage import StageProgress

_UNITS = {"score": "samples", "select": "", "train": "steps", "evaluate": "samples"}


class _ExplainedFailures(logging.Filter):
    """Keeps off the console Prefect's records of a failure that edco explains itself (an
    `EdcoError`, a stop signal, the Prefect server lost: the CLI prints one line and a hint): their tracebacks and
    "Crash detected" / "Finished in state Failed" lines would bury that line. They still reach the
    Prefect API and UI; any other failure keeps its traceback."""

    def __init__(self) -> None:
        super().__init__()
        self.explained = (*_error_names(), *_SIGNALLED, "ApiLost")  # edco.flows.api's, named: not imported here

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, EdcoError):
            return False
        if record.levelno < logging.ERROR:
            return True
        message = record.getMessage()
        return not any(name in message for name in self.explained)


_SIGNALLED = ("aborted by an interrupt signal", "aborted by a termination signal")  # Prefect's words for a stop


def _error_names() -> set[str]:
    found, todo = set(), [EdcoError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo += cls.__subclasses__()
    return found


@contextmanager
def showing_progress(quiet: bool) -> Iterator[None]:
    """Stage progress as rich bars with rate and ETA on a terminal, one line per finished stage
    otherwise (logs, CI), nothing with --quiet. Prefect's own INFO lines are kept off the console
    (`output.quiet_libraries`); they still reach the Prefect API and UI. Called after the flows
    are imported (which sets up Prefect's console handler)."""
    consoles = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    explained = _ExplainedFailures()
    for handler in consoles:
        handler.addFilter(explained)
    try:
        with _progress(quiet):
            yield
    finally:
        for handler in consoles:
            handler.removeFilter(explained)


@contextmanager
def _progress(quiet: bool) -> Iterator[None]:
    from edco.tasks.stage import PROGRESS_LISTENERS

    if quiet:
        yield
        return
    if output.console.is_terminal:
        display = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=output.console,
        )
        tasks: dict[tuple[str, int, str], TaskID] = {}

        def listener(p: StageProgress) -> None:
            key = (p.run, p.interval, p.stage)
            if key not in tasks:
                tasks[key] = display.add_task(f"{p.run} interval {p.interval} {p.stage}", total=p.total, rate="")
            display.update(tasks[key], completed=p.done, total=p.total, rate=_rate(p))
    else:
        display = nullcontext()

        def listener(p: StageProgress) -> None:
            if p.finished:
                output.console.print(
                    f"{p.run} interval {p.interval} {p.stage}: {p.done}/{p.total} in {p.seconds:.1f} s {_rate(p)}"
                )

    PROGRESS_LISTENERS.append(listener)
    try:
        with display:
            yield
    finally:
        PROGRESS_LISTENERS.remove(listener)


def _rate(p: StageProgress) -> str:
    """Items per second, or seconds per item when an item takes longer than a second (training steps)."""
    unit = _UNITS.get(p.stage, "")
    if not unit or p.seconds <= 0 or not p.done:
        return ""
    rate = p.done / p.seconds
    return f"({rate:.2f} {unit}/s)" if rate >= 1 else f"({1 / rate:.1f} s per {unit[:-1]})"
