"""`scoring.prefix_tokens: auto`: pick the prefix length on the user's own data.

The prefix estimator is only worth its saving if it ranks the pool like full-answer entropy
does, and that depends on the model and the data (on long CPU prompts the saving itself is
small; see docs/BENCHMARKS.md). So interval 0 scores a seeded subset of the pool with `full`
and with each candidate k, and keeps the smallest k whose Spearman rho against `full`
reaches the threshold; if none does, the run scores in full mode. The table is stored with
interval 0's scores and logged to MLflow, so a user can see how faithful the shortcut was.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from edco.config.schema import ScoringConfig, updated
from edco.scoring.agreement import prefix_vs_full


def subset(records: pa.Table, samples: int, seed: int) -> pa.Table:
    """A seeded subset of the pool, in the pool's order."""
    if samples >= len(records):
        return records
    return records.take(np.sort(np.random.default_rng(seed).choice(len(records), samples, replace=False)))


def choose(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """The smallest prefix k whose rho reaches the threshold, else full mode."""
    for row in rows:
        if row["mode"] == "prefix" and row["spearman"] >= threshold:  # NaN (constant scores) never does
            return {"mode": "prefix", "prefix_tokens": row["tokens"]}
    return {"mode": "full"}


def resolve(cfg: ScoringConfig, choice: dict[str, Any]) -> ScoringConfig:
    """The scoring settings with the calibrated choice; full mode keeps k unresolved, as it never reads it."""
    return updated(cfg, **choice)


def calibrate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pool: pa.Table,
    cfg: ScoringConfig,
    top_n: int,
    seed: int,
) -> dict[str, Any]:
    """The calibration record: every setting's row, the threshold and the choice.

    The top-N overlap uses N scaled to the subset, so it reads as the share of an interval's
    selection the prefix estimator would keep.
    """
    records = subset(pool, cfg.calibration.samples, seed)
    n = max(1, round(top_n * len(records) / len(pool)))
    rows = prefix_vs_full(model, tokenizer, records, cfg, [cfg.max_new_tokens], cfg.calibration.candidates, n, seed)
    return {
        "samples": len(records),
        "top_n": n,
        "spearman_threshold": cfg.calibration.spearman,
        "rows": rows,
        "choice": choose(rows, cfg.calibration.spearman),
    }
