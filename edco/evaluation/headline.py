"""The run's headline metric: which one it is, which way is better, and the best interval by it.

No torch here: the CLI's tables and the store's listings read it.
"""

from __future__ import annotations

from typing import Any

from edco.config.schema import METRIC_DIRECTIONS, EdcoConfig
from edco.data.kinds import Kind
from edco.errors import ConfigError

_GENERATED = ("exact_match", "token_f1", "rouge_l", "judge_accuracy")


def headline_metric(cfg: EdcoConfig, kind: Kind) -> str:
    """The metric the run is judged by: `evaluation.metric`, else accuracy or the reference NLL by kind."""
    return cfg.evaluation.metric or ("accuracy" if kind == "choice" else "reference_nll")


def check_metric(cfg: EdcoConfig, kind: Kind) -> None:
    """Refuse, before anything runs, a headline metric the records or the settings cannot produce."""
    metric = headline_metric(cfg, kind)
    if (metric == "accuracy") != (kind == "choice"):
        raise ConfigError(
            f"evaluation.metric {metric!r} does not apply to {kind} records",
            hint="choice records are judged by 'accuracy'; free-form ones by 'reference_nll', 'exact_match', "
            "'token_f1', 'rouge_l' or 'judge_accuracy'",
        )
    if metric in _GENERATED and cfg.evaluation.max_new_tokens == 0:
        raise ConfigError(f"evaluation.metric {metric!r} reads generated answers, but evaluation.max_new_tokens is 0")


def headline(metrics: dict[str, Any]) -> tuple[str, float | None]:
    """(name, value) of an interval's headline metric; stores from before free-form kinds had accuracy."""
    name = metrics.get("metric") or "accuracy"  # absent in a file, NULL in a view over several runs
    return name, metrics.get(name)


def better(metric: str) -> str:
    """'higher' or 'lower': which way `metric` improves."""
    return METRIC_DIRECTIONS[metric]


def best_of(values: dict[int, float], metric: str) -> int | None:
    """The interval with the best value of `metric` (the first of ties), None when there is none."""
    pick = max if better(metric) == "higher" else min
    return pick(values, key=values.__getitem__, default=None)
