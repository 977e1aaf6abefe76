"""Choosing the next interval's training samples: a measured signal, and a rule that ranks by it.

A strategy is three things: the signal the score stage measures for it (`edco.scoring.signals`),
whether that signal is measured again each interval or once by the base model, and a rule
that turns the score table into a rank per sample. Every strategy then selects the same N
(the N best ranks), so strategies differ only in *which* samples they train on. A rule with
state (SEC's bandit) gets the previous interval's state and training feedback and returns
its new state, which the select stage writes as an interval output: resume restores it
from disk like everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from edco.config.schema import EdcoConfig, SelectionConfig
from edco.errors import ConfigError
from edco.selection import sec


@dataclass(frozen=True)
class SelectionInput:
    """Everything a rule may read. `categories` are aligned with the score table's rows."""

    scores: pa.Table
    n: int
    seed: int
    interval: int
    cfg: SelectionConfig
    categories: list[str | None] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # the previous interval's, {} at interval 0
    sample_gain: dict[str, float] = field(default_factory=dict)  # what each sample trained last interval taught


@dataclass(frozen=True)
class Ranked:
    ranks: np.ndarray  # 1-based; rank 1 is the most wanted; ranks <= n are selected
    state: dict[str, Any] = field(default_factory=dict)


Rule = Callable[[SelectionInput], Ranked]


@dataclass(frozen=True)
class Strategy:
    signal: str  # a key of edco.scoring.signals.SIGNALS
    rescore: bool  # measured each interval by the current model, or once by the base model
    rank: Rule


def rank_top(inp: SelectionInput) -> Ranked:
    """Highest score first (ties by id, so row order never matters); with `drop_top` the top
    share goes last as outliers, with `window` only scores inside those quantiles go first."""
    scores = inp.scores["score"].to_numpy(zero_copy_only=False)
    ids = _ids(inp.scores)
    outside = np.zeros(len(scores), dtype=bool)
    if inp.cfg.drop_top:
        top = np.lexsort((ids, -scores))[: int(inp.cfg.drop_top * len(scores))]
        outside[top] = True
    if inp.cfg.window:
        lo, hi = np.quantile(scores, inp.cfg.window)
        outside |= (scores < lo) | (scores > hi)
    return Ranked(_ranks(np.lexsort((ids, -scores, outside))))


def rank_random(inp: SelectionInput) -> Ranked:
    """The uniform baseline: a seeded permutation, independent of the scores and the row order."""
    canonical = np.argsort(_ids(inp.scores), kind="stable")
    return Ranked(_ranks(canonical[np.random.default_rng(inp.seed).permutation(len(canonical))]))


def static_order(descending: bool) -> Rule:
    """A fixed curriculum order by a signal measured once, consumed N per interval: interval i
    takes the next N samples of the order (wrapping around once the pool is used up)."""

    def rank(inp: SelectionInput) -> Ranked:
        scores = inp.scores["score"].to_numpy(zero_copy_only=False)
        order = np.lexsort((_ids(inp.scores), -scores if descending else scores))
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order))
        return Ranked((position - inp.interval * inp.n) % len(order) + 1)

    return rank


def rank_by_bandit(inp: SelectionInput) -> Ranked:
    """SEC: update each arm's value with the previous interval's feedback, draw N samples arm by
    arm from the Boltzmann policy, rank the rest after them in a seeded order."""
    state = sec.BanditState.from_json(inp.state) if inp.state else sec.BanditState()
    if inp.interval > 0:
        category = dict(zip(inp.scores["sample_id"].to_pylist(), inp.categories))
        rewards = sec.arm_rewards([category[i] for i in inp.sample_gain], list(inp.sample_gain.values()))
        state = sec.update(state, rewards, inp.cfg.sec.alpha)
    chosen = sec.draw(state, inp.categories, inp.n, inp.cfg.sec.tau, inp.seed)
    rest = np.setdiff1d(np.arange(len(inp.categories)), chosen)
    rest = rest[np.random.default_rng(inp.seed).permutation(len(rest))]
    return Ranked(_ranks(np.concatenate([chosen, rest])), sec.record_draws(state, inp.categories, chosen).to_json())


STRATEGIES: dict[str, Strategy] = {
    "edco": Strategy("entropy", rescore=True, rank=rank_top),
    "random": Strategy("none", rescore=True, rank=rank_random),
    "static_ppl": Strategy("perplexity", rescore=False, rank=static_order(descending=False)),
    "dynamic_ppl": Strategy("perplexity", rescore=True, rank=rank_top),
    "sec": Strategy("none", rescore=True, rank=rank_by_bandit),
    "length": Strategy("length", rescore=False, rank=static_order(descending=True)),
    "ifd": Strategy("ifd", rescore=True, rank=rank_top),
}


def resolve_top_n(top_n: int | str, pool_size: int, epochs: int, intervals: int) -> int:
    """'auto' gives the curriculum the training budget of plain training on the whole pool."""
    if top_n == "auto":
        return max(1, min(pool_size, round(pool_size * epochs / intervals)))
    if top_n > pool_size:
        raise ConfigError(f"'selection.top_n': {top_n} is larger than the pool ({pool_size} samples)")
    return int(top_n)


def interval_top_n(cfg: EdcoConfig, pool_size: int) -> int:
    """N for a run of `cfg` over a pool of `pool_size` samples."""
    return resolve_top_n(cfg.selection.top_n, pool_size, cfg.training.epochs, cfg.curriculum.intervals)


def select(inp: SelectionInput, strategy: str) -> tuple[pa.Table, dict[str, Any]]:
    """The score table with `rank` and `selected` columns added, and the strategy's new state."""
    ranked = STRATEGIES[strategy].rank(inp)
    table = inp.scores.append_column("rank", pa.array(ranked.ranks, pa.int32()))
    return table.append_column("selected", pa.array(ranked.ranks <= inp.n, pa.bool_())), ranked.state


def _ids(scores: pa.Table) -> np.ndarray:
    return np.asarray(scores["sample_id"].to_pylist(), dtype=object)


def _ranks(order: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks
