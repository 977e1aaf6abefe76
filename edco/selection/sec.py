"""Self-Evolving Curriculum (Chen et al. 2025): the pool's categories are a bandit's arms.

Each interval the curriculum draws samples arm by arm from a Boltzmann policy over the arms'
values Q, trains on them, and moves each drawn arm's Q toward the learning gain its samples
gave (the reward): mean |advantage| under GRPO, the drop in answer loss under SFT. Arms whose
samples stop teaching lose value and are drawn less, so the curriculum follows the model.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

NO_CATEGORY = "(none)"
"""The arm of samples without a category: they still compete, as one arm."""


def arm_of(category: str | None) -> str:
    return NO_CATEGORY if category is None else category


@dataclass(frozen=True)
class BanditState:
    """The bandit between intervals; `BanditState()` is the start, every arm at Q = 0."""

    q: dict[str, float] = field(default_factory=dict)  # value per arm; an arm not listed has Q = 0
    draws: dict[str, int] = field(default_factory=dict)  # samples each arm contributed so far (for the record)

    def to_json(self) -> dict:
        return {"q": dict(self.q), "draws": dict(self.draws)}

    @classmethod
    def from_json(cls, data: dict) -> BanditState:
        return cls(
            q={str(arm): float(v) for arm, v in data["q"].items()},
            draws={str(arm): int(n) for arm, n in data["draws"].items()},
        )


def boltzmann(q: dict[str, float], tau: float) -> dict[str, float]:
    """π(c) ∝ exp(Q(c)/τ); the largest exponent is subtracted first so no value overflows."""
    values = np.array(list(q.values()), dtype=np.float64) / tau
    weights = np.exp(values - values.max())
    return dict(zip(q, (weights / weights.sum()).tolist()))


def update(state: BanditState, rewards: dict[str, float], alpha: float) -> BanditState:
    """Drawn arms (the keys of `rewards`): Q ← (1−α)Q + α·r. Arms not drawn: Q ← (1−α)Q.

    An undrawn arm gathers no new evidence, so its old evidence fades at the rate new evidence
    is weighted; a neglected arm's value drifts back toward the start and it gets drawn again.
    """
    arms = sorted(state.q.keys() | rewards.keys())
    q = {arm: (1 - alpha) * state.q.get(arm, 0.0) + alpha * rewards.get(arm, 0.0) for arm in arms}
    return BanditState(q=q, draws=dict(state.draws))


def record_draws(state: BanditState, categories: list[str | None], chosen: np.ndarray) -> BanditState:
    """The state with the chosen samples counted in their arms' `draws`."""
    counts = Counter(state.draws) + Counter(arm_of(categories[i]) for i in chosen)
    return BanditState(q=dict(state.q), draws=dict(sorted(counts.items())))


def draw(state: BanditState, categories: list[str | None], n: int, tau: float, seed: int) -> np.ndarray:
    """`n` distinct sample indices, in draw order (that order is the rank).

    Each slot draws an arm from the Boltzmann policy over the arms that still have unchosen
    samples (renormalised over them), then a uniformly random unchosen sample of that arm.
    The policy only changes when an arm runs out, so slots are drawn in blocks: a block
    draws every remaining slot's arm from one policy and keeps the slots up to the one that
    takes an arm's last sample. Each arm hands out its samples in a seeded random order,
    which is drawing uniformly without replacement. At most one block per arm: a million-
    sample pool costs a few numpy calls, not a Python step per slot (30 s before, at 1M).
    Deterministic for a seed and a given order of `categories`.
    """
    if n > len(categories):
        raise ValueError(f"cannot draw {n} samples from a pool of {len(categories)}")
    rng = np.random.default_rng(seed)
    members: dict[str, list[int]] = {}
    for i, category in enumerate(categories):
        members.setdefault(arm_of(category), []).append(i)
    arms = sorted(members)
    queues = np.concatenate([rng.permutation(np.array(members[arm], dtype=np.int64)) for arm in arms])
    sizes = np.array([len(members[arm]) for arm in arms])
    starts = np.cumsum(sizes) - sizes
    taken = np.zeros(len(arms), dtype=np.int64)
    chosen = [np.array([], dtype=np.int64)]
    while (slots := n - int(taken.sum())) > 0:
        open_arms = np.flatnonzero(taken < sizes)
        policy = boltzmann({arms[a]: state.q.get(arms[a], 0.0) for a in open_arms}, tau)
        picks = open_arms[rng.choice(len(open_arms), size=slots, p=list(policy.values()))]
        rank = _occurrence(picks)
        emptied = np.flatnonzero(rank == (sizes - taken)[picks] - 1)
        keep = emptied[0] + 1 if len(emptied) else slots
        picks, rank = picks[:keep], rank[:keep]
        chosen.append(queues[starts[picks] + taken[picks] + rank])
        taken += np.bincount(picks, minlength=len(arms))
    return np.concatenate(chosen)


def _occurrence(values: np.ndarray) -> np.ndarray:
    """For each position, how many earlier positions hold the same value."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(values)), 0))
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values)) - group_start
    return rank


def arm_rewards(categories: list[str | None], gains: list[float]) -> dict[str, float]:
    """Each drawn arm's reward: the mean gain of its samples (the trainer measures a sample's gain:
    its mean |advantage| under GRPO, the drop of its answer loss under SFT)."""
    by_arm: dict[str, list[float]] = {}
    for category, gain in zip(categories, gains, strict=True):
        by_arm.setdefault(arm_of(category), []).append(gain)
    return {arm: sum(vs) / len(vs) for arm, vs in sorted(by_arm.items())}
