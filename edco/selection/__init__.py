"""Choosing each interval's training samples from the pool's scores: the strategies and SEC's bandit."""

from edco.selection.sec import NO_CATEGORY, BanditState, arm_rewards, boltzmann, draw, record_draws, update
from edco.selection.strategies import STRATEGIES, SelectionInput, interval_top_n, resolve_top_n, select

__all__ = [
    "BanditState",
    "NO_CATEGORY",
    "STRATEGIES",
    "SelectionInput",
    "arm_rewards",
    "boltzmann",
    "draw",
    "interval_top_n",
    "record_draws",
    "resolve_top_n",
    "select",
    "update",
]
