"""What the score stage measures: inference entropy, teacher-forced answer losses and the signals
built on them, length batching, partial re-scoring, and the prefix-vs-full agreement that
calibrates the prefix length."""

from edco.scoring.agreement import prefix_vs_full, settings, to_markdown, top_overlap
from edco.scoring.batching import length_batches
from edco.scoring.entropy import SCORE_SCHEMA, aggregate, score_rows, score_table, token_entropy
from edco.scoring.losses import Example, answer_batch, answer_losses, answer_token_losses, evaluating
from edco.scoring.signals import SIGNALS, ifd_table, length_table, perplexity_table

__all__ = [
    "Example",
    "SCORE_SCHEMA",
    "SIGNALS",
    "aggregate",
    "answer_batch",
    "answer_losses",
    "answer_token_losses",
    "evaluating",
    "ifd_table",
    "length_batches",
    "length_table",
    "perplexity_table",
    "prefix_vs_full",
    "score_rows",
    "score_table",
    "settings",
    "to_markdown",
    "token_entropy",
    "top_overlap",
]
