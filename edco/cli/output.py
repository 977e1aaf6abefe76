"""What every command shares: the consoles, the store-root option, and how numbers are shown."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from edco.errors import EdcoError

# Long command lines stay copy-pasteable (soft wrap), and off a terminal (logs, pipes, CI) wide
# tables keep every column instead of squeezing into rich's default 80 characters.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 240)
errors = Console(stderr=True, soft_wrap=True)

RootOption = Annotated[
    Optional[Path], typer.Option("--root", help="Store folder (default: $EDCO_ROOT or ./runs).", show_default=False)
]


def store_root(root: Path | None) -> Path:
    """The `--root` given, else the default store (`$EDCO_ROOT` or ./runs)."""
    from edco.storage.store import default_root

    return root if root is not None else default_root()


def quiet_libraries() -> None:
    """Silence what would draw between the stage lines before a run starts."""
    # Prefect's temporary local API otherwise logs a telemetry SQLite error on every start,
    # and every stage's model load (transformers) and dataset preparation (datasets, inside
    # TRL's trainers) would draw a progress bar of its own between the stage lines.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")  # stage progress replaces them
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def cell(value: float | None) -> str:
    """A table cell: blank for a missing value, integers as they are, other numbers to 4 decimals."""
    return "" if value is None else str(value) if isinstance(value, int) else f"{value:.4f}"


def int_list(option: str, text: str) -> list[int]:
    """`--seeds 0,1,2` and the like; a clear error names the option."""
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise EdcoError(f"{option} must be comma-separated integers, not {text!r}") from None


def print_warning(text: str) -> None:
    """A line on stderr about something that works but that the user would want to change."""
    errors.print(f"warning: {text}", style="yellow", markup=False, highlight=False)


def print_error(exc: EdcoError) -> None:
    """What a command prints for an expected failure: one line, and a hint if it has one."""
    errors.print(f"error: {exc}", style="red", markup=False, highlight=False)
    if exc.hint:
        errors.print(f"hint: {exc.hint}", markup=False, highlight=False)
