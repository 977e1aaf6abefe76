"""The progress callback every long stage takes; here because scoring, training and evaluation all report it."""

from collections.abc import Callable

Progress = Callable[[int, int], None]
"""(items done, items total): lets callers log progress or stop at a known point."""
