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

import numpy as np
import pyarrow as pa
from scipy import stats

from edco.config.schema import EdcoConfig, updated
from edco.errors import ConfigError
from edco.evaluation.headline import best_of, better, headline
from edco.models.environment import describe
from edco.reporting.paired import MIN_CATEGORY_ITEMS, by_category, count, effect_text, paired, verdict_line
from edco.selection.strategies import STRATEGIES

BASELINE = "random"
CONFIDENCE = 0.95
EFFECT = 0.05  # the difference a verdict prices in eval items and seeds: 5 points of accuracy


@dataclass(frozen=True)
class Member:
    strategy: str
    seed: int
    cfg: EdcoConfig


def members(
    base: EdcoConfig, strategies: Sequence[str], seeds: Sequence[int], baseline: str = BASELINE
) -> list[Member]:
    """One run per (strategy, seed), named `<run_name>-<strategy>-s<seed>`. The baseline every
    strategy is compared with must be one of them (random, the default, unless one is named)."""
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        raise ConfigError(f"--strategies: unknown {unknown}; known: {', '.join(sorted(STRATEGIES))}")
    if not strategies or not seeds:
        raise ConfigError("--strategies and --seeds each need at least one value")
    if baseline not in strategies:
        raise ConfigError(
            f"--baseline {baseline!r} is not among --strategies ({', '.join(strategies)})",
            hint="add it to --strategies, or name one of them with --baseline",
        )
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


def summarize(
    runs: dict[tuple[str, int], list[dict[str, Any]]],
    items: ItemTables | None = None,
    baseline: str = BASELINE,
    effect: float = EFFECT,
) -> list[dict[str, Any]]:
    """One row per strategy from each member's per-interval metrics (and final per-item results),
    in the order given. `final`, `best` and `base` are the headline metric's (`metric`); `best` by
    its direction; the comparison with `baseline` as `versus` makes it, `effect` the difference
    whose cost in eval items and seeds the verdict states."""
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
        row.update(versus(runs, items or {}, strategy, seeds, metric, baseline, effect))
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


ItemTables = dict[tuple[str, int], pa.Table]
"""Each member's per-item results of its final interval (`edco.evaluation.items`), by (strategy, seed)."""


def item_differences(
    items: ItemTables, strategy: str, baseline: str, column: str, metric: str
) -> tuple[np.ndarray, list[str | None], list[int]] | None:
    """`d[seed, item]`: the strategy's per-item `column` minus the baseline's with the same seed on
    the same item, signed so that positive is better; with the items' categories and the seeds.
    Items are those every paired member has a value for; None when no seed has both members' items."""
    seeds = [
        s
        for st, s in sorted(items)
        if st == strategy and (baseline, s) in items and items[st, s].num_rows and items[baseline, s].num_rows
    ]
    if not seeds:
        return None
    tables = [items[key, s] for s in seeds for key in (strategy, baseline)]
    values = [dict(zip(t["item_id"].to_pylist(), t[column].to_pylist())) for t in tables]
    first = tables[1]
    ids = [i for i in first["item_id"].to_pylist() if all(v.get(i) is not None for v in values)]
    category = dict(zip(first["item_id"].to_pylist(), first["category"].to_pylist()))
    ours = np.array([[values[2 * k][i] for i in ids] for k in range(len(seeds))], dtype=np.float64)
    theirs = np.array([[values[2 * k + 1][i] for i in ids] for k in range(len(seeds))], dtype=np.float64)
    higher = (better(metric) if column == "metric_value" else value_direction(metric)) == "higher"
    return (ours - theirs if higher else theirs - ours), [category[i] for i in ids], seeds


def value_direction(metric: str) -> str:
    """Which way the continuous per-item value improves: the gold option's probability (choice
    records) up, the reference NLL (free-form records) down."""
    return "higher" if metric == "accuracy" else "lower"


def versus(
    runs: dict[tuple[str, int], list[dict[str, Any]]],
    items: ItemTables,
    strategy: str,
    seeds: list[int],
    metric: str,
    baseline: str,
    effect: float,
) -> dict[str, Any]:
    """The strategy against the baseline: the paired difference of the headline metric with its
    95% interval, the minimum detectable effect, the same for the continuous per-item value, and
    the verdict. From the per-item results (bootstrap over items and seeds) when the members have
    them, else from the final metrics (t-interval over the seeds, no MDE)."""
    out: dict[str, Any] = {"baseline": baseline, "verdict": ""}
    out |= {key: math.nan for key in _VERSUS_NUMBERS}
    if strategy == baseline:
        return {**out, "interval": ""}
    found = item_differences(items, strategy, baseline, "metric_value", metric)
    if found is None:
        return {**out, **_seed_interval(runs, strategy, seeds, metric, baseline), "interval": "t over seeds"}
    d, _, paired_seeds = found
    result = paired(d)
    value = item_differences(items, strategy, baseline, "value", metric)
    value_result = paired(value[0]) if value is not None and value[0].size else None
    c = result.components
    out |= {
        "interval": "bootstrap over items and seeds",
        "paired_seeds": len(paired_seeds),
        "eval_items": c.items,
        "vs_baseline": result.interval.mean,
        "vs_baseline_lo": result.interval.lo,
        "vs_baseline_hi": result.interval.hi,
        "mde": result.mde,
        "items_needed": c.items_needed(effect),
        "seeds_needed": c.seeds_needed(effect),
        "verdict": verdict_line(strategy, baseline, result, effect, _unit(metric)),
    }
    if value_result is not None:
        out |= {
            "value_vs_baseline": value_result.interval.mean,
            "value_lo": value_result.interval.lo,
            "value_hi": value_result.interval.hi,
            "value_mde": value_result.mde,
        }
    return out


_VERSUS_NUMBERS = (
    "paired_seeds",
    "eval_items",
    "vs_baseline",
    "vs_baseline_lo",
    "vs_baseline_hi",
    "mde",
    "items_needed",
    "seeds_needed",
    "value_vs_baseline",
    "value_lo",
    "value_hi",
    "value_mde",
)


def _unit(metric: str) -> str:
    return "points" if metric in _SHARES else metric


_SHARES = ("accuracy", "exact_match", "judge_accuracy", "token_f1", "rouge_l")  # 0-1 scores, read as points


def _seed_interval(
    runs: dict[tuple[str, int], list[dict[str, Any]]], strategy: str, seeds: list[int], metric: str, baseline: str
) -> dict[str, float]:
    """How much better the final headline metric is than the baseline's with the same seed, mean
    and 95% t-interval over the seeds both have: what a comparison without per-item results tells."""
    paired_seeds = [s for s in seeds if (baseline, s) in runs]
    if not paired_seeds:
        return {}
    diffs = [
        gain(_value(runs[strategy, s][-1], metric), _value(runs[baseline, s][-1], metric), metric) for s in paired_seeds
    ]
    mean = _mean(diffs)
    out = {"paired_seeds": len(diffs), "vs_baseline": mean}
    if len(diffs) < 2:
        return out
    half = stats.t.ppf((1 + CONFIDENCE) / 2, len(diffs) - 1) * _std(diffs) / math.sqrt(len(diffs))
    return {**out, "vs_baseline_lo": mean - half, "vs_baseline_hi": mean + half}


def category_rows(items: ItemTables, strategies: Sequence[str], baseline: str, metric: str) -> list[dict[str, Any]]:
    """Per strategy and eval-item category, the paired difference of the headline metric with its interval."""
    rows = []
    for strategy in strategies:
        found = None if strategy == baseline else item_differences(items, strategy, baseline, "metric_value", metric)
        if found is None:
            continue
        d, categories, _ = found
        for category, interval in by_category(d, categories).items():
            n = sum(1 for c in categories if (c if c is not None else "(none)") == category)
            rows.append(
                {
                    "strategy": strategy,
                    "category": category,
                    "items": n,
                    "vs_baseline": interval.mean,
                    "lo": interval.lo,
                    "hi": interval.hi,
                }
            )
    return rows


def to_markdown(
    rows: list[dict[str, Any]],
    categories: Sequence[dict[str, Any]] = (),
    environments: dict[str, list[dict[str, Any]]] | None = None,
) -> str:
    metric, baseline = rows[0]["metric"], rows[0]["baseline"]
    header = (
        f"| strategy | seeds | final {metric} | best {metric} | vs {baseline} (95% CI) | MDE | scoring s | training s "
        "| evaluation s | gain / compute h | grad. consistency |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r['strategy']} | {r['seeds']} | {r['final_mean']:.3f} ± {r['final_std']:.3f} "
            f"| {r['best_mean']:.3f} ± {r['best_std']:.3f} "
            f"| {_interval(r['vs_baseline'], r['vs_baseline_lo'], r['vs_baseline_hi'])} | {_fmt(r['mde'])} "
            f"| {r['scoring_seconds']:.0f} | {r['training_seconds']:.0f} | {r['evaluation_seconds']:.0f} "
            f"| {r['gain_per_compute_hour']:+.3f} | {_fmt(r['gradient_consistency'])} |"
        )
    lines.append("")
    methods = sorted({r["interval"] for r in rows if r["interval"]})
    lines.append(
        f"{metric}: {better(metric)} is better. 'vs {baseline}': how much better the final {metric} is than "
        f"{baseline}'s with the same seed on the same items (positive: better), 95% interval by "
        f"{' / '.join(methods) or '—'}; MDE: the smallest difference this comparison detects with 80% power; "
        "'gain / compute h': the improvement on the base model per compute hour."
    )
    value = [r for r in rows if not math.isnan(r["value_vs_baseline"])]
    if value:
        name = "gold-option probability" if metric == "accuracy" else "reference NLL"
        lines += ["", f"Continuous per-item value ({name}, {value_direction(metric)} is better), vs {baseline}:", ""]
        lines += [
            f"- {r['strategy']}: {_interval(r['value_vs_baseline'], r['value_lo'], r['value_hi'])}, "
            f"MDE {_fmt(r['value_mde'])}"
            for r in value
        ]
    if categories:
        lines += ["", f"By category ({metric}, vs {baseline}):", "", "| strategy | category | items | vs (95% CI) |"]
        lines.append("|---|---|---|---|")
        lines += [f"| {c['strategy']} | {c['category']} | {c['items']} | {_category_interval(c)} |" for c in categories]
    verdicts = [r["verdict"] for r in rows if r["verdict"]]
    if verdicts:
        lines += ["", "Verdicts:", "", *(f"- {v}" for v in verdicts)]
    lines += environment_lines(environments or {})
    return "\n".join(lines) + "\n"


def environment_lines(by_member: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Where the members computed: one line when all ran in one environment; else each
    environment with its members, since equal configs and seeds differ across machines and
    library versions (and their differences are then not the strategies' alone)."""
    members: dict[str, list[str]] = {}
    for member, environments in by_member.items():
        for environment in environments:
            members.setdefault(describe(environment), []).append(member)
    if not members:  # members run before environments were recorded
        return []
    if len(members) == 1:
        return ["", f"Every member's stages ran on {next(iter(members))}."]
    lines = [
        "",
        f"The members' stages ran in {len(members)} environments; results can differ between "
        "them for the same config and seed:",
        "",
    ]
    return lines + [f"- {text}: {', '.join(names)}" for text, names in members.items()]


PLAN_SEEDS = (3, 5, 10, 20)


def plan(items: ItemTables, strategies: Sequence[str], baseline: str, metric: str, effect: float) -> str:
    """How big a comparison must be to detect `effect` with 80% power, from a pilot's per-item
    differences: its variance components, its own MDE, and the eval items needed at several seed
    counts (and the seeds needed at the pilot's eval size)."""
    unit = _unit(metric)
    lines = [f"Planning from the pilot ({metric}, vs {baseline}; effect to detect: {effect_text(effect, unit)}):"]
    for strategy in strategies:
        found = None if strategy == baseline else item_differences(items, strategy, baseline, "metric_value", metric)
        if found is None:
            continue
        c = paired(found[0]).components
        lines += [
            "",
            f"{strategy} vs {baseline}: pilot of {c.seeds} seed(s) x {c.items} eval items; variance of a per-item "
            f"difference: seed {c.seed:.3g}, item {c.item:.3g}, residual {c.residual:.3g}",
            f"  the pilot detects {effect_text(c.mde(), unit)} (MDE, 80% power); with {c.items} items it would need "
            f"{count(c.seeds_needed(effect))} seeds for {effect_text(effect, unit)}",
            "",
            "| seeds | eval items needed |",
            "|---|---|",
            *(f"| {s} | {count(c.items_needed(effect, s))} |" for s in sorted({*PLAN_SEEDS, c.seeds})),
        ]
        if c.seeds == 1:
            lines.append("  (one seed: the seed variance is not estimated, so these counts are lower bounds)")
    if len(lines) == 1:
        lines.append("no strategy has per-item results paired with the baseline's")
    return "\n".join(lines) + "\n"


def _category_interval(row: dict[str, Any]) -> str:
    if math.isnan(row["lo"]):
        return f"{row['vs_baseline']:+.3f} (under {MIN_CATEGORY_ITEMS} items: no interval)"
    return _interval(row["vs_baseline"], row["lo"], row["hi"])


def _interval(mean: float, lo: float, hi: float) -> str:
    if math.isnan(mean):
        return "—"
    return f"{mean:+.3f}" + ("" if math.isnan(lo) else f" [{lo:+.3f}, {hi:+.3f}]")


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
