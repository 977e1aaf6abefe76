"""Comparing selection strategies under the same budget: members, summary table, plot.

A comparison runs one curriculum per (strategy, seed) from one base config; members differ
only in `selection.strategy` and `seed`, so each trains the same number of samples per
interval for the same number of intervals. The summary answers the question users bring:
does a strategy train a better model than random selection, on this data, and at what
compute cost.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scipy import stats

from edco.config.schema import EdcoConfig, updated
from edco.errors import ConfigError
from edco.evaluation.headline import best_of, better, headline
from edco.selection.strategies import STRATEGIES

BASELINE = "random"
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Member:
    strategy: str
    seed: int
    cfg: EdcoConfig


def members(base: EdcoConfig, strategies: Sequence[str], seeds: Sequence[int]) -> list[Member]:
    """One run per (strategy, seed), named `<run_name>-<strategy>-s<seed>`."""
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        raise ConfigError(f"--strategies: unknown {unknown}; known: {', '.join(sorted(STRATEGIES))}")
    if not strategies or not seeds:
        raise ConfigError("--strategies and --seeds each need at least one value")
    return [
        Member(
            strategy,
            seed,
            updated(
                base,
                run_name=f"{base.run_name}-{strategy}-s{seed}",
                seed=seed,
                selection=updated(base.selection, strategy=strategy),
            ),
        )
        for strategy in dict.fromkeys(strategies)
        for seed in dict.fromkeys(seeds)
    ]


def compute_seconds(metrics: list[dict[str, Any]]) -> dict[str, float]:
    """What a member's strategy cost, by kind. Selection counts as scoring; what every strategy
    pays alike and only once per store is left out: the gradient-consistency diagnostics
    (from training) and the base model's evaluation (from evaluation)."""
    return {
        "scoring": sum(m["score_seconds"] + m["select_seconds"] for m in metrics),
        "training": sum(m["train_seconds"] - m.get("diagnostics_seconds", 0.0) for m in metrics),
        "evaluation": sum(m["evaluate_seconds"] - m.get("base_evaluate_seconds", 0.0) for m in metrics),
    }


def headline_of(runs: dict[tuple[str, int], list[dict[str, Any]]]) -> str:
    """The members' headline metric (they share the base config, so they share it)."""
    return headline(next(iter(runs.values()))[0])[0]


def gain(value: float, base: float, metric: str) -> float:
    """How much `value` improves on `base`, positive when better whichever way `metric` improves."""
    return value - base if better(metric) == "higher" else base - value


def summarize(runs: dict[tuple[str, int], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per strategy from each member's per-interval metrics, in the order given. `final`,
    `best` and `base` are the headline metric's (`metric`); `best` by its direction."""
    metric = headline_of(runs)
    strategies = list(dict.fromkeys(strategy for strategy, _ in runs))
    rows = []
    for strategy in strategies:
        seeds = sorted(seed for s, seed in runs if s == strategy)
        final = [_value(runs[strategy, seed][-1], metric) for seed in seeds]
        best = [_best(runs[strategy, seed], metric) for seed in seeds]
        base = [_value(runs[strategy, seed][0], f"base_{metric}") for seed in seeds]
        cost = [compute_seconds(runs[strategy, seed]) for seed in seeds]
        seconds = {kind: _mean([c[kind] for c in cost]) for kind in ("scoring", "training", "evaluation")}
        hours = sum(seconds.values()) / 3600
        row = {
            "strategy": strategy,
            "seeds": len(seeds),
            "base": _mean(base),
            "final_mean": _mean(final),
            "final_std": _std(final),
            "best_mean": _mean(best),
            "best_std": _std(best),
            **{f"{kind}_seconds": value for kind, value in seconds.items()},
            "gain_per_compute_hour": gain(_mean(final), _mean(base), metric) / hours if hours else math.nan,
            "gradient_consistency": _mean(
                [
                    m["gradient_consistency"]
                    for seed in seeds
                    for m in runs[strategy, seed]
                    if "gradient_consistency" in m
                ]
            ),
        }
        row.update(paired_difference(runs, strategy, seeds, metric))
        rows.append({**row, "metric": metric})
    return rows


def _best(metrics: list[dict[str, Any]], metric: str) -> float:
    values = {i: m[metric] for i, m in enumerate(metrics) if m.get(metric) is not None}
    best = best_of(values, metric)
    return math.nan if best is None else values[best]


def _value(metrics: dict[str, Any], key: str) -> float:
    """A metric, NaN when absent or null (a judge whose every reply was unparsed has no acceptance rate)."""
    value = metrics.get(key)
    return math.nan if value is None else value


def paired_difference(
    runs: dict[tuple[str, int], list[dict[str, Any]]], strategy: str, seeds: list[int], metric: str = "accuracy"
) -> dict[str, float]:
    """How much better the final headline metric is than random's with the same seed (positive:
    better, whichever way the metric improves), mean and 95% t-interval over the seeds both have:
    pairing by seed removes what the seed alone explains (the data order, the init)."""
    paired = [s for s in seeds if (BASELINE, s) in runs]
    if strategy == BASELINE or not paired:
        return {"vs_random": math.nan, "vs_random_lo": math.nan, "vs_random_hi": math.nan}
    diffs = [gain(_value(runs[strategy, s][-1], metric), _value(runs[BASELINE, s][-1], metric), metric) for s in paired]
    mean = _mean(diffs)
    if len(diffs) < 2:
        return {"vs_random": mean, "vs_random_lo": math.nan, "vs_random_hi": math.nan}
    half = stats.t.ppf((1 + CONFIDENCE) / 2, len(diffs) - 1) * _std(diffs) / math.sqrt(len(diffs))
    return {"vs_random": mean, "vs_random_lo": mean - half, "vs_random_hi": mean + half}


def to_markdown(rows: list[dict[str, Any]]) -> str:
    metric = rows[0]["metric"]
    name = "accuracy" if metric == "accuracy" else metric
    header = (
        f"| strategy | seeds | final {name} | best {name} | vs random (95% CI) | scoring s | training s "
        "| evaluation s | gain / compute h | grad. consistency |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        versus = (
            "—"
            if math.isnan(r["vs_random"])
            else (
                f"{r['vs_random']:+.3f}"
                + ("" if math.isnan(r["vs_random_lo"]) else f" [{r['vs_random_lo']:+.3f}, {r['vs_random_hi']:+.3f}]")
            )
        )
        lines.append(
            f"| {r['strategy']} | {r['seeds']} | {r['final_mean']:.3f} ± {r['final_std']:.3f} "
            f"| {r['best_mean']:.3f} ± {r['best_std']:.3f} "
            f"| {versus} | {r['scoring_seconds']:.0f} | {r['training_seconds']:.0f} | {r['evaluation_seconds']:.0f} "
            f"| {r['gain_per_compute_hour']:+.3f} | {_fmt(r['gradient_consistency'])} |"
        )
    lines.append("")
    lines.append(
        f"{metric}: {better(metric)} is better. 'vs random': how much better the final {metric} is than random's "
        "with the same seed (positive: better); 'gain / compute h': the improvement on the base model per compute "
        "hour."
    )
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict[str, Any]]) -> str:
    sink = io.StringIO()
    writer = csv.DictWriter(sink, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return sink.getvalue()


def plot(runs: dict[tuple[str, int], list[dict[str, Any]]], path: Path) -> Path:
    """The headline metric against interval and against cumulative compute seconds: mean over
    seeds, with the seeds' min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    metric = headline_of(runs)
    fig, (by_interval, by_compute) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for strategy in dict.fromkeys(s for s, _ in runs):
        curves = [runs[key] for key in sorted(k for k in runs if k[0] == strategy)]
        intervals = [i for i in range(min(len(c) for c in curves)) if all(c[i].get(metric) is not None for c in curves)]
        acc = [[c[i][metric] for c in curves] for i in intervals]
        spent = [[sum(compute_seconds(c[: i + 1]).values()) for c in curves] for i in intervals]
        mean = [_mean(a) for a in acc]
        (line,) = by_interval.plot(list(intervals), mean, marker="o", label=strategy)
        by_interval.fill_between(
            list(intervals), [min(a) for a in acc], [max(a) for a in acc], alpha=0.15, color=line.get_color()
        )
        by_compute.plot([_mean(s) for s in spent], mean, marker="o", color=line.get_color(), label=strategy)
    base = _mean([c[0][f"base_{metric}"] for c in runs.values()])
    for ax, label in (
        (by_interval, "interval"),
        (by_compute, "cumulative compute seconds (scoring + training + evaluation)"),
    ):
        ax.axhline(base, color="grey", linestyle="--", linewidth=1, label="base model")
        ax.set_xlabel(label)
        ax.set_ylabel(f"held-out {metric} ({better(metric)} is better)")
        ax.grid(alpha=0.3)
    by_interval.xaxis.set_major_locator(MaxNLocator(integer=True))
    by_interval.legend(fontsize=8)
    fig.savefig(path, dpi=120, format="png")  # the path may be a temp name without the suffix
    plt.close(fig)
    return path


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def _std(xs: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0 for a single value."""
    if len(xs) < 2:
        return 0.0
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _fmt(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.3f}"
