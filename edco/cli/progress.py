"""Stage progress on the console while a run or a comparison runs."""

from __future__ import annotations

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

if TYPE_CHECKING:
    from edco.tasks.stage import StageProgress

_UNITS = {"score": "samples", "select": "", "train": "steps", "evaluate": "samples"}


@contextmanager
def showing_progress(quiet: bool) -> Iterator[None]:
    """Stage progress as rich bars with rate and ETA on a terminal, one line per finished stage
    otherwise (logs, CI), nothing with --quiet. Prefect's own INFO lines are kept off the console
    (`output.quiet_libraries`); they still reach the Prefect API and UI."""
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
