"""The record contract: three kinds of record (choice, reference, chat), their schemas, the layouts
read with no column map, one validator, the quarantine of rejected rows, and the prompts and
targets built from records."""

from edco.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "formats": ["LAYOUTS", "resolve_layout"],
        "kinds": ["KINDS", "SCHEMAS", "Kind", "kind_of", "prompt_texts", "references", "rows"],
        "prompts": [
            "LETTERS",
            "answer_text",
            "chat_prompt",
            "chat_prompts",
            "check_lengths",
            "conversation",
            "letter_token_ids",
            "sft_examples",
            "reply_text",
            "target_text",
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
