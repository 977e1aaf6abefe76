"""Curriculum overhead of a finished run: what it spent beyond training the samples it selected.

What it answers (issue 8, targets 1 and 6): per interval and in total, the seconds of scoring,
selection, evaluation, the gradient diagnostics and model I/O (loading each stage's model and
writing the checkpoint, the price of stages that run apart) as a share of the training proper
(the train stage without its diagnostics and model I/O), and the time between stages (Prefect task transitions,
the interval's seal and its MLflow logging, read from the audit trail `stages.jsonl`) as a
share of the interval's wall time. The shared base-model evaluation of interval 0, which a
plain training run would also need once, is shown apart. Runs written before stages kept their
model I/O count it inside each stage ("—" in that column). Reads the run store only; prints
Markdown.

    .venv/bin/python -m benchmarks.overhead runs/bench-published [runs/bench-published-partial ...]
"""

from __future__ import annotations

import math
from pathlib import Path

from benchmarks.harness import benchmark_parser
from edco.storage.store import STAGES, RunStore

COST = ("score", "select", "evaluate", "diagnostics", "model_io")


def interval_rows(store: RunStore) -> list[dict[str, float]]:
    """Seconds per stage, the training proper, the interval's wall time and the gaps between its stages."""
    log = store.stage_log()
    rows = []
    for interval in range(store.config().curriculum.intervals):
        metrics = store.metrics(interval)
        events = [e for e in log if e["interval"] == interval and e["event"] in ("started", "finished")]
        nxt = [e["time"] for e in log if e["interval"] == interval + 1 and e["event"] == "started"]
        start, end = min(e["time"] for e in events), (min(nxt) if nxt else max(e["time"] for e in events))
        io = {s: metrics.get(f"{s}_model_io_seconds") for s in STAGES}
        stages = {s: metrics[f"{s}_seconds"] - (io[s] or 0.0) for s in STAGES}
        base = metrics.get("base_evaluate_seconds", 0.0) if interval == 0 else 0.0
        rows.append(
            {
                "interval": interval,
                **stages,
                "diagnostics": metrics.get("diagnostics_seconds", 0.0),  # 0 when off
                "training": store.training_seconds(interval),
                "evaluate": stages["evaluate"] - base,
                "base_evaluate": base,
                "model_io": sum(io.values()) if None not in io.values() else float("nan"),
                "rescored": metrics.get(
                    "rescored_samples", len(store.pool())
                ),  # runs before partial re-scoring scored all
                "wall": end - start,
                "between": end - start - sum(metrics[f"{s}_seconds"] for s in STAGES),
            }
        )
    return rows


def print_run(store: RunStore) -> None:
    rows = interval_rows(store)
    print(f"\n{store.name}: {len(store.pool())} pool samples, {store.config().curriculum.intervals} intervals\n")
    print(
        "| interval | re-scored | scoring s | selection s | training s | evaluation s | diagnostics s "
        "| model I/O s | overhead / training | wall s | between stages |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in [*rows, {k: sum(r[k] for r in rows) for k in rows[0]} | {"interval": "**all**"}]:
        overhead = sum(r[k] for k in COST if not math.isnan(r[k])) / r["training"]  # unknown model I/O counts nothing
        io = "—" if math.isnan(r["model_io"]) else f"{r['model_io']:.1f}"
        print(
            f"| {r['interval']} | {r['rescored']:.0f} | {r['score']:.1f} | {r['select']:.2f} | {r['training']:.1f} "
            f"| {r['evaluate']:.1f} | {r['diagnostics']:.1f} | {io} | {overhead:.0%} | {r['wall']:.1f} "
            f"| {r['between']:.1f} s ({r['between'] / r['wall']:.1%}) |"
        )
    total = {
        k: sum(r[k] for r in rows)
        for k in ("score", "evaluate", "diagnostics", "model_io", "training", "base_evaluate")
    }
    share = lambda k: "not recorded" if math.isnan(total[k]) else f"{total[k] / total['training']:.0%}"  # noqa: E731
    print(
        f"\nscoring alone: {share('score')} of training; evaluation {share('evaluate')}; diagnostics "
        f"{share('diagnostics')}; model I/O {share('model_io')}; the one base-model evaluation (not counted above): "
        f"{total['base_evaluate']:.1f} s"
    )


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("runs", type=Path, nargs="+")
    for run in parser.parse_args().runs:
        print_run(RunStore(run))


if __name__ == "__main__":
    main()
