"""Prefix versus full entropy: what the cheap estimator saves and whether it ranks the pool alike.

The prefix estimator reads k generated tokens of a quick answer; `full` reads a whole answer.
A curriculum only uses the ranking, so the question is not whether the two scores are equal
but whether they pick the same samples: Spearman's rho and Kendall's tau over the pool, and
the overlap of the top N (the selection an interval would train on), each against the
longest `full` setting. Seconds are wall time of `score_table` on the same records, one
setting after the other in one process, so their ratios compare like with like.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy import stats
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from edco.config.schema import ScoringConfig, updated
from edco.scoring.entropy import score_table
from edco.seeds import derive_seed, seed_everything


@dataclass(frozen=True)
class Setting:
    mode: str
    tokens: int  # prefix_tokens for prefix, max_new_tokens for full

    @property
    def name(self) -> str:
        return f"{self.mode} k={self.tokens}" if self.mode == "prefix" else f"full <= {self.tokens}"

    def scoring(self, base: ScoringConfig) -> ScoringConfig:
        knob = "prefix_tokens" if self.mode == "prefix" else "max_new_tokens"
        return updated(base, mode=self.mode, **{knob: self.tokens})


def settings(full_tokens: Sequence[int], prefix_tokens: Sequence[int]) -> list[Setting]:
    """The full settings first, longest last among them: that one is the reference."""
    return [*(Setting("full", n) for n in sorted(full_tokens)), *(Setting("prefix", k) for k in sorted(prefix_tokens))]


def top_overlap(scores: Sequence[float], reference: Sequence[float], top_n: int) -> float:
    """Share of the reference's top N (highest first, ties by position) that `scores` also puts in its top N."""

    def top(values: Sequence[float]) -> set[int]:
        return set(np.lexsort((np.arange(len(values)), -np.asarray(values, dtype=float)))[:top_n].tolist())

    return len(top(scores) & top(reference)) / top_n


def agreement(scores: Sequence[float], reference: Sequence[float], top_n: int) -> dict[str, float]:
    return {
        "spearman": float(stats.spearmanr(scores, reference).statistic),
        "kendall": float(stats.kendalltau(scores, reference).statistic),
        "top_overlap": top_overlap(scores, reference, top_n),
    }


def prefix_vs_full(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    base: ScoringConfig,
    full_tokens: Sequence[int],
    prefix_tokens: Sequence[int],
    top_n: int,
    seed: int = 0,
) -> list[dict[str, float | str]]:
    """One row per setting: seconds per sample, saving against the reference, agreement with it.
    Each setting starts from the same seed, as interval 0's score stage would (sampling estimators)."""
    timed = []
    for setting in settings(full_tokens, prefix_tokens):
        seed_everything(derive_seed(seed, 0, "score"))
        start = time.perf_counter()
        table = score_table(model, tokenizer, records, setting.scoring(base))
        timed.append((setting, time.perf_counter() - start, table))
    _, reference_seconds, reference = [t for t in timed if t[0].mode == "full"][-1]
    ref_scores = reference["score"].to_pylist()
    return [
        {
            "setting": setting.name,
            "mode": setting.mode,
            "tokens": setting.tokens,
            "seconds_per_sample": seconds / len(records),
            "generated_tokens": float(np.mean(table["n_tokens"].to_numpy())),
            "saving": 1 - seconds / reference_seconds,
            **agreement(table["score"].to_pylist(), ref_scores, top_n),
        }
        for setting, seconds, table in timed
    ]


def to_markdown(rows: list[dict[str, float | str]], reference: str) -> str:
    lines = [
        f"| setting | s / sample | generated tokens | saving vs {reference} "
        "| Spearman rho | Kendall tau | top-N overlap |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['setting']} | {r['seconds_per_sample']:.3f} | {r['generated_tokens']:.1f} | {r['saving']:+.0%} "
        f"| {r['spearman']:.3f} | {r['kendall']:.3f} | {r['top_overlap']:.3f} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"
