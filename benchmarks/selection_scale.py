"""Selection and storage at scale: a synthetic 1,000,000-sample pool over 10 intervals.

What it answers: do the parts of a curriculum that do not run the model stay small when the
pool is large? Per interval it times the selection of every strategy rule (on synthetic
scores), the atomic Parquet write of the interval's table, and then, over the 10 intervals
written, the `turnover` view and a per-interval aggregate through `edco sql`'s read-only
DuckDB connection. Peak RSS of the process is reported (Linux ru_maxrss). Prints Markdown.

    .venv/bin/python -m benchmarks.selection_scale [--rows 1000000] [--intervals 10]
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa

from benchmarks.harness import benchmark_parser, peak_rss_mib, timed
from edco.config.schema import SelectionConfig
from edco.selection.strategies import SelectionInput, select
from edco.storage.files import write_parquet
from edco.storage.sql import query

T = TypeVar("T")
CATEGORIES = [f"category-{i}" for i in range(10)]


def synthetic_scores(rows: int, interval: int) -> pa.Table:
    rng = np.random.default_rng(interval)
    return pa.table(
        {
            "sample_id": pa.array([f"s{i:07d}" for i in range(rows)]),
            "score": pa.array(rng.gamma(2.0, 0.5, rows)),
            "n_tokens": pa.array(np.full(rows, 4, dtype=np.int32)),
            "model_tokens": pa.array(np.full(rows, 400, dtype=np.int64)),
            "signal": pa.array(["prefix_entropy_nats"] * rows),
        }
    )


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--intervals", type=int, default=10)
    args = parser.parse_args()
    n = args.rows // 4
    categories = [CATEGORIES[i % len(CATEGORIES)] for i in range(args.rows)]
    timings: dict[str, list[float]] = {}

    def measured(name: str, fn: Callable[[], T]) -> T:
        """`fn()`, its seconds kept under `name`."""
        seconds, out = timed(fn)
        timings.setdefault(name, []).append(seconds)
        return out

    with tempfile.TemporaryDirectory(prefix="edco-scale-") as tmp:
        root = Path(tmp)
        for interval in range(args.intervals):
            scores = synthetic_scores(args.rows, interval)
            for strategy in ("edco", "random", "static_ppl", "sec"):
                inp = SelectionInput(scores, n, interval, interval, SelectionConfig(strategy=strategy), categories)
                ranked, _ = measured(f"select: {strategy}", lambda inp=inp, strategy=strategy: select(inp, strategy))
            ranked = ranked.add_column(0, "interval", pa.array(np.full(args.rows, interval, dtype=np.int32)))
            ranked = ranked.add_column(0, "run", pa.array(["scale"] * args.rows))
            folder = root / "scale" / f"interval_{interval:03d}"
            folder.mkdir(parents=True)
            measured(
                "atomic Parquet write",
                lambda folder=folder, ranked=ranked: write_parquet(folder / "scores.parquet", ranked),
            )
        turnover = measured(
            "turnover view, all intervals", lambda: query(root, "SELECT * FROM turnover ORDER BY interval")
        )
        measured(
            "per-interval aggregates (edco sql)",
            lambda: query(
                root,
                "SELECT interval, count(*), avg(score) FILTER (WHERE selected), avg(score) "
                "FROM scores GROUP BY 1 ORDER BY 1",
            ),
        )
    assert turnover.num_rows == args.intervals
    print(
        f"{args.rows:,} samples per interval, {args.intervals} intervals, N = {n:,} selected; "
        f"peak RSS {peak_rss_mib():.0f} MiB\n"
    )
    print("| step | runs | mean s | max s |")
    print("|---|---|---|---|")
    for name, values in timings.items():
        print(f"| {name} | {len(values)} | {sum(values) / len(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
