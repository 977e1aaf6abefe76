"""The record contract: one schema, one validator, the quarantine of rejected rows, and the prompts built from records."""

from edco.data.prompts import LETTERS, answer_text, chat_prompt, chat_prompts, check_lengths, letter_token_ids, sft_examples, trainer_prompt
from edco.data.records import LoadResult, MAX_CHOICES, MIN_CHOICES, RECORD_SCHEMA, Unreadable, check_disjoint, invalid_rows_error, quarantine_entry, source_error, validate_rows

__all__ = ["LETTERS", "LoadResult", "MAX_CHOICES", "MIN_CHOICES", "RECORD_SCHEMA", "Unreadable", "answer_text", "chat_prompt", "chat_prompts", "check_disjoint", "check_lengths", "invalid_rows_error", "letter_token_ids", "quarantine_entry", "sft_examples", "source_error", "trainer_prompt", "validate_rows"]
