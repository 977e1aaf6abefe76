"""What the score stage can measure: inference entropy (`edco.scoring.entropy`), answer perplexity
and IFD (teacher-forced, `edco.scoring.losses`), length, or nothing."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from edco.config.schema import ScoringConfig
from edco.data.prompts import sft_examples
from edco.progress import Progress
from edco.scoring.entropy import score_rows, score_table
from edco.scoring.losses import answer_losses


def perplexity_table(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    batch_size: int,
    progress: Progress | None = None,
) -> pa.Table:
    """exp(mean answer loss given the question): how surprised the model is by the gold answer."""
    losses, counts = answer_losses(model, tokenizer, records, batch_size, progress=progress)
    lengths = [len(prompt) + len(answer) for prompt, answer in sft_examples(tokenizer, records)]
    return score_rows(records, [math.exp(loss) for loss in losses], counts, lengths, "answer_perplexity")


def ifd_table(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    batch_size: int,
    progress: Progress | None = None,
) -> pa.Table:
    """Instruction-following difficulty (Li et al. 2024): loss(A|Q) / loss(A).

    Near or above 1, the question does not help the model produce the answer: the sample
    teaches what the model cannot yet link to its instruction. Progress counts both passes.
    """
    n = records.num_rows
    first = (lambda done, _: progress(done, 2 * n)) if progress else None
    second = (lambda done, _: progress(n + done, 2 * n)) if progress else None
    conditioned, counts = answer_losses(model, tokenizer, records, batch_size, with_question=True, progress=first)
    alone, _ = answer_losses(model, tokenizer, records, batch_size, with_question=False, progress=second)
    lengths = [len(prompt) + 2 * len(answer) + 1 for prompt, answer in sft_examples(tokenizer, records)]  # both passes
    return score_rows(records, [q / a for q, a in zip(conditioned, alone)], counts, lengths, "ifd")


def length_table(tokenizer: PreTrainedTokenizerBase, records: pa.Table) -> pa.Table:
    """Tokens of prompt plus answer as SFT sees them; n_tokens holds the same count. No model runs."""
    lengths = [len(prompt) + len(answer) for prompt, answer in sft_examples(tokenizer, records)]
    return score_rows(records, [float(n) for n in lengths], lengths, [0] * len(lengths), "length_tokens")


def no_signal(records: pa.Table) -> pa.Table:
    """For strategies that read no score (random, SEC): the pool's ids with null scores, at no model cost."""
    return score_rows(records, [None] * records.num_rows, [0] * records.num_rows, [0] * records.num_rows, "none")


Measure = Callable[
    [PreTrainedModel | None, PreTrainedTokenizerBase, pa.Table, ScoringConfig, Progress | None, int | None], pa.Table
]
"""(model, tokenizer, records, scoring settings, progress, the stage's sampling seed) -> the score table."""


@dataclass(frozen=True)
class Signal:
    """What the score stage measures; `needs_model` False spares loading the model."""

    needs_model: bool
    measure: Measure


SIGNALS: dict[str, Signal] = {
    "entropy": Signal(
        True, lambda model, tok, records, cfg, progress, seed: score_table(model, tok, records, cfg, progress, seed)
    ),
    "perplexity": Signal(
        True,
        lambda model, tok, records, cfg, progress, seed: perplexity_table(
            model, tok, records, cfg.batch_size, progress
        ),
    ),
    "ifd": Signal(
        True, lambda model, tok, records, cfg, progress, seed: ifd_table(model, tok, records, cfg.batch_size, progress)
    ),
    "length": Signal(False, lambda model, tok, records, cfg, progress, seed: length_table(tok, records)),
    "none": Signal(False, lambda model, tok, records, cfg, progress, seed: no_signal(records)),
}
