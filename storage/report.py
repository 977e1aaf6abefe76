"""`edco report`: one run's plots and HTML page, drawn from the same SQL views as `edco sql`.

Reading through `storage.sql.query` (not the interval files directly) keeps the CLI table,
the plots and the page on one set of numbers. Output goes to `<root>/<run>/report/`, beside
the intervals and outside the views' globs, written atomically so a reader never sees half.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edco.errors import StoreError
from edco.reporting import plots
from edco.reporting.html import TOP_SAMPLES, render_report
from edco.storage.files import atomic_write, unwritable
from edco.storage.sql import query
from edco.storage.store import RunStore

INTERVAL_PLOTS = ("signal_histogram.png", "accuracy_signal.png", "turnover.png")


def build_report(root: Path, run: str, out: Path | None = None) -> Path:
    """Draw the plots and write `report.html` for `run` into `<run>/report/`, or into `out` (a
    store on read-only media is still reported on, elsewhere); returns the page's path."""
    store = RunStore.open(root, run)
    folder = Path(out) if out is not None else store.run_dir / "report"
    problem = unwritable(store.run_dir) if out is None else None
    if problem:
        raise StoreError(
            f"{store.run_dir} is not writable ({problem}): the report cannot be written beside the run",
            hint="write it elsewhere: edco report RUN --out DIR",
        )
    metrics = _rows(store, "metrics")
    if not metrics:
        raise StoreError(f"run '{run}' has no evaluated interval yet; nothing to report", hint="run or resume it first")
    turnover = _rows(store, "turnover")
    images = report_images(store, metrics[0]["interval"], metrics[-1]["interval"], folder)
    top = top_samples(store, metrics[-1]["interval"])
    page = render_report(run, store.config().to_yaml(), metrics, turnover, top, images)
    return atomic_write(folder / "report.html", lambda tmp: tmp.write_text(page, encoding="utf-8"))


def report_images(store: RunStore, first: int, last: int, folder: Path) -> dict[str, bytes]:
    """The page's plots by caption: accuracy and turnover up to the last interval, and the signal
    histograms of the first and the last: where the curriculum started and where it stands,
    whatever the run's length. They are the per-interval plots the tracker logs, drawn afresh."""
    ends = {i: dict(zip(INTERVAL_PLOTS, interval_plots(store, i, folder))) for i in dict.fromkeys((first, last))}
    return {
        "accuracy and signal by interval": ends[last]["accuracy_signal.png"].read_bytes(),
        "selection turnover": ends[last]["turnover.png"].read_bytes(),
        **{f"signal histogram, interval {i}": drawn["signal_histogram.png"].read_bytes() for i, drawn in ends.items()},
    }


def interval_plots(store: RunStore, interval: int, folder: Path | None = None) -> list[Path]:
    """The plots of one finished interval, in `<folder>/interval_NNN/` (by default the run's
    `report/`): its signal histogram, and accuracy and turnover up to it. The tracker attaches them
    to the interval's MLflow run."""
    metrics = [m for m in _rows(store, "metrics") if m["interval"] <= interval]
    turnover = [t for t in _rows(store, "turnover") if t["interval"] <= interval]
    scores = query(
        store.run_dir.parent,
        "SELECT interval, score, signal, selected FROM scores WHERE run = ? AND interval = ?",
        [store.name, interval],
    )
    folder = (folder or store.run_dir / "report") / store.interval_dir(interval).name
    folder.mkdir(parents=True, exist_ok=True)
    draw = {
        "signal_histogram.png": lambda p: plots.signal_histogram(scores, interval, p),
        "accuracy_signal.png": lambda p: plots.accuracy_and_signal(metrics, p),
        "turnover.png": lambda p: plots.turnover_bars(turnover, p),
    }
    return [atomic_write(folder / name, draw[name]) for name in INTERVAL_PLOTS]


def top_samples(store: RunStore, interval: int) -> list[dict[str, Any]]:
    """The interval's highest-signal samples (by rank when no signal was measured), with their
    question text from the run's frozen pool."""
    rows = query(
        store.run_dir.parent,
        f"SELECT sample_id, score, rank, selected FROM scores WHERE run = ? AND interval = ? "
        f"ORDER BY score DESC NULLS LAST, rank LIMIT {TOP_SAMPLES}",
        [store.name, interval],
    ).to_pylist()
    pool = store.pool()
    questions = dict(zip(pool["id"].to_pylist(), pool["question"].to_pylist()))
    return [{**r, "question": questions[r["sample_id"]]} for r in rows]


def _rows(store: RunStore, view: str) -> list[dict[str, Any]]:
    return query(
        store.run_dir.parent, f"SELECT * FROM {view} WHERE run = ? ORDER BY interval", [store.name]
    ).to_pylist()
