"""The record contract: one schema, one validator, the quarantine of rejected rows, and the prompts
built from records."""

from edco.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "prompts": [
            "LETTERS",
            "answer_text",
            "chat_prompt",
            "chat_prompts",
            "check_lengths",
            "letter_token_ids",
            "sft_examples",
            "trainer_prompt",
        ],
        "records": [
            "Invalid",
            "LoadResult",
            "MAX_CHOICES",
            "MIN_CHOICES",
            "RECORD_SCHEMA",
            "Unreadable",
            "check_disjoint",
            "collect",
            "invalid_rows_error",
            "problems_error",
            "quarantine_entry",
            "required",
            "shown",
            "source_error",
            "text",
            "validate_rows",
        ],
    },
)
