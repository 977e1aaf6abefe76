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
    Deterministic for a seed and a given order of `categories`.
    """
    if n > len(categories):
        raise ValueError(f"cannot draw {n} samples from a pool of {len(categories)}")
    rng = np.random.default_rng(seed)
    unchosen: dict[str, list[int]] = {}
    for i, category in enumerate(categories):
        unchosen.setdefault(arm_of(category), []).append(i)
    chosen = []
    for _ in range(n):
        policy = boltzmann({arm: state.q.get(arm, 0.0) for arm in sorted(unchosen)}, tau)
        arm = list(policy)[rng.choice(len(policy), p=list(policy.values()))]
        left = unchosen[arm]
        chosen.append(left.pop(rng.integers(len(left))))
        if not left:
            del unchosen[arm]
    return np.array(chosen, dtype=np.int64)


def arm_rewards(categories: list[str | None], gains: list[float]) -> dict[str, float]:
    """Each drawn arm's reward: the mean gain of its samples (the trainer measures a sample's gain:
    its mean |advantage| under GRPO, the drop of its answer loss under SFT)."""
    by_arm: dict[str, list[float]] = {}
    for category, gain in zip(categories, gains, strict=True):
        by_arm.setdefault(arm_of(category), []).append(gain)
    return {arm: sum(vs) / len(vs) for arm, vs in sorted(by_arm.items())}
