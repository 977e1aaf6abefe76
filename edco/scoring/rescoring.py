"""Scoring less than the whole pool after interval 0, and carrying the rest over.

Re-scoring the pool every interval is the curriculum's main cost. What a selection needs is
the order near its boundary, so an interval scores again (1) the samples it just trained on,
whose scores moved most, (2) the next `rescore_margin` x N samples by last rank, which could
enter the selection, and (3) a seeded share of the pool, which keeps every sample's score from
growing arbitrarily old and measures how much the untrained samples moved. Every other sample
keeps its last score, with `scored_at` naming the interval it came from.

The plateau trigger drops (3) when the last interval's re-scored, untrained samples ranked
nearly as before it (Spearman rho at least `plateau_spearman`): the scores have settled, so
only the boundary is worth paying for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from edco.config.schema import ScoringConfig

SCORED_AT = "scored_at"
MIN_MOVEMENT_SAMPLES = 3  # a rank correlation of fewer samples says nothing


@dataclass(frozen=True)
class Plan:
    """Which pool rows (in the previous table's order) to score again, and why."""

    rescore: np.ndarray  # bool per row
    movement: float | None  # Spearman rho of the last interval's untrained re-scored samples, if measurable
    plateau: bool

    def summary(self) -> dict[str, float | int | bool | None]:
        return {
            "rescored": int(self.rescore.sum()),
            "carried": int((~self.rescore).sum()),
            "movement_spearman": self.movement,
            "plateau": self.plateau,
        }


def with_scored_at(table: pa.Table, interval: int) -> pa.Table:
    """A freshly scored table, every row marked as scored in `interval`."""
    return table.append_column(SCORED_AT, pa.array([interval] * len(table), pa.int32()))


def scored_at(table: pa.Table, interval: int) -> np.ndarray:
    """Where each row's score came from; tables written before the column existed were scored whole."""
    if SCORED_AT in table.column_names:
        return table[SCORED_AT].to_numpy()
    return np.full(len(table), interval, dtype=np.int32)


def movement(previous: pa.Table, before: pa.Table, interval: int) -> float | None:
    """How the untrained samples' ranking moved during the interval before `interval`'s predecessor.

    `previous` is the select table of interval - 1 and `before` that of interval - 2; the
    samples compared are those re-scored in interval - 1 that interval - 2 did not train on
    (training moves its own samples by construction, which says nothing about the rest).
    """
    old = dict(zip(before["sample_id"].to_pylist(), zip(before["score"].to_pylist(), before["selected"].to_pylist())))
    fresh = scored_at(previous, interval - 1) == interval - 1
    pairs = [
        (new, old[sample][0])
        for sample, new, is_fresh in zip(previous["sample_id"].to_pylist(), previous["score"].to_pylist(), fresh)
        if is_fresh and not old[sample][1]
    ]
    if len(pairs) < MIN_MOVEMENT_SAMPLES:
        return None
    rho = stats.spearmanr(*zip(*pairs)).statistic
    return None if math.isnan(rho) else float(rho)


def plan(previous: pa.Table, before: pa.Table | None, cfg: ScoringConfig, n: int, seed: int, interval: int) -> Plan:
    """What interval `interval` (> 0) scores again, from the select tables of the two intervals before it."""
    ranks = previous["rank"].to_numpy()
    rescore = ranks <= n + math.ceil(cfg.rescore_margin * n)
    moved = movement(previous, before, interval) if before is not None and cfg.plateau_spearman is not None else None
    plateau = moved is not None and moved >= cfg.plateau_spearman
    if not plateau:
        probe = round(cfg.rescore_fraction * len(previous))
        order = np.argsort(np.asarray(previous["sample_id"].to_pylist(), dtype=object), kind="stable")
        rescore[order[np.random.default_rng(seed).permutation(len(order))[:probe]]] = True
    return Plan(rescore, moved, plateau)


def merge(previous: pa.Table, fresh: pa.Table, interval: int) -> pa.Table:
    """The previous scores with the freshly scored rows replaced, in the previous table's row order.

    Carried rows cost nothing this interval (model_tokens 0) and keep their `scored_at`.
    """
    measured = [c for c in fresh.column_names if c != SCORED_AT]
    carried = previous.select(measured).append_column(SCORED_AT, pa.array(scored_at(previous, interval - 1)))
    carried = carried.set_column(
        measured.index("model_tokens"), "model_tokens", pa.array([0] * len(carried), pa.int64())
    )
    carried = carried.filter(pc.invert(pc.is_in(carried["sample_id"], value_set=fresh["sample_id"])))
    order = {sample: i for i, sample in enumerate(previous["sample_id"].to_pylist())}
    merged = pa.concat_tables([carried, fresh.cast(carried.schema)])
    return merged.take(np.argsort([order[s] for s in merged["sample_id"].to_pylist()], kind="stable"))
