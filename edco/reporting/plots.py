"""Per-run plots: what one curriculum selected and what it gained, interval by interval.

Each function takes the rows the store's SQL views return (an Arrow table or a list of
dicts) and writes one PNG, so the report, the CLI and MLflow show the same numbers. Figures
are built with `matplotlib.figure.Figure`, not pyplot: nothing global (backend, open-figure
registry) changes for whoever imports this, and a figure is freed once it goes out of scope.
The path may be a temp name without a suffix (atomic writes), hence the explicit format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from edco.evaluation.headline import better, headline

NO_SIGNAL = "no signal measured"
TURNOVER_PARTS = ("new", "retained", "returned")
DPI = 100


def signal_histogram(scores: pa.Table, interval: int, path: Path) -> Path:
    """The pool's signal against the selected samples' for one interval: where selection cut."""
    rows = scores.filter(pc.equal(scores["interval"], interval))
    name = _signal_name(rows["signal"].to_pylist())
    values = rows["score"].to_pylist()
    fig = Figure(figsize=(6, 4), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"interval {interval}: {name or 'signal'} of pool and selection")
    if name is None or None in values:
        _mark_no_signal(ax, "random and SEC select without scoring the pool")
    else:
        pool = np.array(values, dtype=float)
        selected = pool[np.array(rows["selected"].to_pylist(), dtype=bool)]
        bins = np.histogram_bin_edges(pool, bins="auto")
        ax.hist(pool, bins=bins, alpha=0.5, label=f"pool ({len(pool)})")
        ax.hist(selected, bins=bins, alpha=0.7, label=f"selected ({len(selected)})")
        ax.set_xlabel(name)
        ax.set_ylabel("samples")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    return _save(fig, path)


def turnover_bars(turnover: list[dict[str, Any]], path: Path) -> Path:
    """How much of each interval's selection is new, kept from the last interval, or back after a gap."""
    intervals = [row["interval"] for row in turnover]
    fig = Figure(figsize=(6, 4), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    bottom = np.zeros(len(turnover))
    for part in TURNOVER_PARTS:
        counts = np.array([row[part] for row in turnover], dtype=float)
        ax.bar(intervals, counts, bottom=bottom, label=part)
        bottom += counts
    ax.set_title("selection turnover")
    ax.set_xlabel("interval")
    ax.set_ylabel("selected samples")
    ax.set_xticks(intervals)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1))  # beside the bars, never over them
    return _save(fig, path)


def accuracy_and_signal(metrics: list[dict[str, Any]], path: Path) -> Path:
    """The headline metric (accuracy, the reference NLL, ...) against the base model's, above the signal
    the selection chose against the pool's."""
    intervals = [m["interval"] for m in metrics]
    metric = headline(metrics[0])[0] if metrics else "accuracy"
    fig = Figure(figsize=(7, 6), dpi=DPI, layout="constrained")
    accuracy, signal = fig.subplots(2, 1, sharex=True)
    evaluated = [m for m in metrics if m.get(metric) is not None]  # evaluation.every skips some intervals
    accuracy.plot([m["interval"] for m in evaluated], [m[metric] for m in evaluated], marker="o", label="fine-tuned")
    base = metrics[0].get(f"base_{metric}") if metrics else None
    if base is not None:
        accuracy.axhline(base, color="grey", linestyle="--", linewidth=1, label="base model")
    accuracy.set_ylabel(f"held-out {metric}\n({better(metric)} is better)")
    accuracy.legend()
    name = _signal_name([m.get("signal") for m in metrics])
    means = {key: [m.get(f"{key}_signal_mean") for m in metrics] for key in ("selected", "pool")}
    if name is None or None in means["selected"] + means["pool"]:
        _mark_no_signal(signal, "the strategy selects without scoring the pool")
    else:
        for key, values in means.items():
            signal.plot(intervals, values, marker="o", label=f"{key} mean")
        signal.set_ylabel(f"mean {name}")
        signal.legend()
    signal.set_xlabel("interval")
    signal.set_xticks(intervals)
    for ax in (accuracy, signal):
        ax.grid(alpha=0.3)
    return _save(fig, path)


def _signal_name(names: list[str | None]) -> str | None:
    """The measured signal's name, or None when nothing was measured (signal 'none' or missing)."""
    measured = [n for n in names if n not in (None, "none")]
    return measured[0] if measured else None


def _mark_no_signal(ax: Any, why: str) -> None:
    """An explicit empty panel, so a missing signal reads as a fact about the strategy, not a bug."""
    ax.text(0.5, 0.55, NO_SIGNAL, ha="center", va="center", fontsize=16, transform=ax.transAxes)
    ax.text(0.5, 0.4, why, ha="center", va="center", fontsize=9, color="grey", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, format="png")
    return path
