"""What the score stage measures: inference entropy, teacher-forced answer losses and the signals
built on them, length batching, partial re-scoring, and the prefix-vs-full agreement that
calibrates the prefix length."""

from edco.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "agreement": ["prefix_vs_full", "settings", "to_markdown", "top_overlap"],
        "batching": ["length_batches"],
        "entropy": ["SCORE_SCHEMA", "aggregate", "eos_ids", "score_rows", "score_table", "token_entropy"],
        "losses": ["Example", "answer_batch", "answer_losses", "answer_token_losses", "evaluating"],
        "signals": ["SIGNALS", "ifd_table", "length_table", "perplexity_table"],
    },
)
