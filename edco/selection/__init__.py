"""Choosing each interval's training samples from the pool's scores: the strategies and SEC's bandit."""

from edco.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "sec": ["NO_CATEGORY", "BanditState", "arm_rewards", "boltzmann", "draw", "record_draws", "update"],
        "strategies": ["STRATEGIES", "SelectionInput", "interval_top_n", "resolve_top_n", "select"],
    },
)
