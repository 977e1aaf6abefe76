"""Choosing the next interval's training samples from a scored pool.

Every strategy maps a score table to a rank per sample; the top N ranks are selected. New
strategies (static/dynamic PPL, SEC) register here behind the same signature.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from edco.errors import ConfigError

Ranker = Callable[[pa.Table, int], np.ndarray]
"""(score table, seed) -> 1-based rank of each row; rank 1 is trained on first."""


def rank_by_entropy(scores: pa.Table, seed: int) -> np.ndarray:
    """Highest entropy first; ties broken by id so the selection never depends on row order."""
    ids = np.asarray(scores["sample_id"].to_pylist(), dtype=object)
    order = np.lexsort((ids, -scores["score"].to_numpy()))
    return _ranks(order)


def rank_randomly(scores: pa.Table, seed: int) -> np.ndarray:
    """The uniform baseline: a seeded permutation, independent of the scores."""
    ids = np.asarray(scores["sample_id"].to_pylist(), dtype=object)
    canonical = np.argsort(ids, kind="stable")  # independent of the pool's row order
    return _ranks(canonical[np.random.default_rng(seed).permutation(len(ids))])


def _ranks(order: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


STRATEGIES: dict[str, Ranker] = {"edco": rank_by_entropy, "random": rank_randomly}


def resolve_top_n(top_n: int | str, pool_size: int, epochs: int, intervals: int) -> int:
    """'auto' gives the curriculum the training budget of plain training on the whole pool."""
    if top_n == "auto":
        return max(1, min(pool_size, round(pool_size * epochs / intervals)))
    if top_n > pool_size:
        raise ConfigError(f"'selection.top_n': {top_n} is larger than the pool ({pool_size} samples)")
    return int(top_n)


def select_top_n(scores: pa.Table, strategy: str, n: int, seed: int) -> pa.Table:
    """The score table with `rank` and `selected` columns added."""
    ranks = STRATEGIES[strategy](scores, seed)
    return scores.append_column("rank", pa.array(ranks, pa.int32())).append_column(
        "selected", pa.array(ranks <= n, pa.bool_())
    )
