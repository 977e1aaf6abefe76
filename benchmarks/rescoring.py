"""Partial re-scoring against full re-scoring, interval by interval, replayed on a finished run.

What it answers: how much scoring `scoring.rescore_fraction` and the plateau trigger save, and
how far their selection strays from the one full re-scoring makes, per interval. The run must
have re-scored its whole pool greedily every interval. Greedy scoring is a function of the
model and the sample alone (the scorer matches an unbatched reference to 1e-5), so what a
partial policy would have measured for a sample is what the full run measured for it: each
policy is replayed along the full run's model trajectory with `edco.scoring.rescoring` itself, its
own carried scores ranked by the run's own strategy, without running a model. A real partial
run trains on its own selection and drifts from this trajectory; the replay isolates the
error of the stale scores. Prints one Markdown table.

    .venv/bin/python -m benchmarks.rescoring runs/bench-published \
        [--fractions 0.1,0.25,0.5] [--margins 0.5] [--plateau 0.9]
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from benchmarks.harness import add_run_args, benchmark_parser
from edco.config.schema import EdcoConfig, ScoringConfig
from edco.scoring import rescoring
from edco.seeds import derive_seed
from edco.selection.strategies import SelectionInput, interval_top_n, select
from edco.storage.store import RunStore

COLUMNS = ["sample_id", "score", "n_tokens", "model_tokens", "signal"]


def selected(table: pa.Table) -> set[str]:
    return set(table.filter(table["selected"])["sample_id"].to_pylist())


def replay(store: RunStore, scoring: ScoringConfig) -> list[dict[str, float | int | bool | None]]:
    """One row per interval after the first: what the policy scored, saved and selected."""
    cfg: EdcoConfig = store.config()
    n = interval_top_n(cfg, len(store.pool()))
    previous, before = store.read_table(0, "select"), None
    rows = []
    for interval in range(1, cfg.curriculum.intervals):
        full = store.read_table(interval, "select")
        plan = rescoring.plan(previous, before, scoring, n, derive_seed(cfg.seed, interval, "rescore"), interval)
        ids = previous["sample_id"].filter(pa.array(plan.rescore))
        fresh = rescoring.with_scored_at(
            full.select(COLUMNS).filter(pc.is_in(full["sample_id"], value_set=ids)), interval
        )
        merged = rescoring.merge(previous, fresh, interval)
        ranked, _ = select(
            SelectionInput(
                scores=merged, n=n, seed=derive_seed(cfg.seed, interval, "select"), interval=interval, cfg=cfg.selection
            ),
            cfg.selection.strategy,
        )
        reference = dict(zip(full["sample_id"].to_pylist(), full["score"].to_pylist()))
        rows.append(
            {
                "interval": interval,
                "rescored": len(ids),
                "cost_saved": 1 - sum(fresh["model_tokens"].to_pylist()) / sum(full["model_tokens"].to_pylist()),
                "top_overlap": len(selected(ranked) & selected(full)) / n,
                "spearman": float(
                    stats.spearmanr(
                        merged["score"].to_numpy(), [reference[s] for s in merged["sample_id"].to_pylist()]
                    ).statistic
                ),
                "movement": plan.movement,
                "plateau": plan.plateau,
            }
        )
        before, previous = previous, ranked
    return rows


def policies(fractions: list[float], margins: list[float], plateau: float | None) -> list[ScoringConfig]:
    found = [ScoringConfig(rescore_fraction=f, rescore_margin=m) for m in margins for f in fractions]
    if plateau is not None:
        found += [
            ScoringConfig(rescore_fraction=f, rescore_margin=m, plateau_spearman=plateau)
            for m in margins
            for f in fractions
        ]
    return found


def name(scoring: ScoringConfig) -> str:
    plateau = f", plateau {scoring.plateau_spearman}" if scoring.plateau_spearman is not None else ""
    return f"fraction {scoring.rescore_fraction}, margin {scoring.rescore_margin}{plateau}"


def main() -> None:
    parser = benchmark_parser(__doc__)
    add_run_args(parser)
    parser.add_argument("--fractions", default="0.1,0.25,0.5")
    parser.add_argument("--margins", default="0.5")
    parser.add_argument("--plateau", type=float, default=0.9)
    args = parser.parse_args()
    store = RunStore(args.run_dir)
    cfg = store.config()
    if cfg.scoring.temperature > 0 or cfg.scoring.partial:
        raise SystemExit(f"{args.run_dir}: needs a run that re-scored the whole pool greedily every interval")
    n = interval_top_n(cfg, len(store.pool()))
    print(
        f"replayed on {store.name}: pool {len(store.pool())}, N = {n}, {cfg.curriculum.intervals} intervals, "
        f"strategy {cfg.selection.strategy}, {cfg.scoring.mode} k={cfg.scoring.prefix_tokens}\n"
    )
    print(
        "| policy | interval | re-scored | scoring cost saved | top-N overlap with full | Spearman rho with full "
        "| movement rho | plateau |"
    )
    print("|---|---|---|---|---|---|---|---|")
    summary = []
    for scoring in policies(
        [float(f) for f in args.fractions.split(",")], [float(m) for m in args.margins.split(",")], args.plateau
    ):
        rows = replay(store, scoring)
        for r in rows:
            movement = "" if r["movement"] is None else f"{r['movement']:.3f}"
            print(
                f"| {name(scoring)} | {r['interval']} | {r['rescored']} | {r['cost_saved']:.0%} "
                f"| {r['top_overlap']:.3f} "
                f"| {r['spearman']:.3f} | {movement} | {'yes' if r['plateau'] else ''} |"
            )
        summary.append(
            (
                name(scoring),
                *(np.mean([r[k] for r in rows]) for k in ("cost_saved", "top_overlap", "spearman")),
                min(r["top_overlap"] for r in rows),
            )
        )
    print("\n| policy | mean scoring cost saved | mean top-N overlap | worst top-N overlap | mean Spearman rho |")
    print("|---|---|---|---|---|")
    for policy, saved, overlap, rho, worst in summary:
        print(f"| {policy} | {saved:.0%} | {overlap:.3f} | {worst:.3f} | {rho:.3f} |")


if __name__ == "__main__":
    main()
