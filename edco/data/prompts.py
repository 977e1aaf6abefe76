"""The prompts the model sees: one place, so scoring, training and evaluation agree."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from transformers import PreTrainedTokenizerBase

from edco.errors import DataError, RowProblem

LETTERS = "ABCDEFGHIJ"

INSTRUCTIONS: dict[str, str] = {
    # Quick answer: letter first, so prefix entropy sees the decision within a few tokens,
    # and evaluation can read the answer from the first token's logits.
    "quick": "Reply with the letter of the correct option first, then at most one short sentence.",
    "reasoning": "Think it through in a few sentences, then finish with 'Answer: <letter>'.",
    # The authors' released estimator: a quick answer with minimal reasoning.
    "published": "Answer in at most three sentences, with minimal reasoning.",
}


def format_question(question: str, choices: Sequence[str]) -> str:
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return f"{question}\n\n{options}"


def user_turn(question: str, choices: Sequence[str], instruction: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{format_question(question, choices)}\n\n{INSTRUCTIONS[instruction]}"}]


def chat_prompt(tokenizer: PreTrainedTokenizerBase, question: str, choices: Sequence[str], instruction: str) -> str:
    """The user turn plus the assistant header: generation and answer tokens continue it."""
    turn = user_turn(question, choices, instruction)
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)
    return f"{turn[0]['content']}\nAnswer: "


def chat_prompts(tokenizer: PreTrainedTokenizerBase, records: pa.Table, instruction: str) -> list[str]:
    """`chat_prompt` of every record, in the records' order: what the scorer feeds the model."""
    return [
        chat_prompt(tokenizer, q, c, instruction)
        for q, c in zip(records["question"].to_pylist(), records["choices"].to_pylist())
    ]


def trainer_prompt(
    tokenizer: PreTrainedTokenizerBase, question: str, choices: Sequence[str], instruction: str
) -> str | list[dict[str, str]]:
    """The prompt as TRL's trainers take it: the conversation when the tokenizer has a chat
    template (TRL renders it exactly as `chat_prompt` does, with no second BOS), else the text."""
    if tokenizer.chat_template:
        return user_turn(question, choices, instruction)
    return chat_prompt(tokenizer, question, choices, instruction)


def answer_text(tokenizer: PreTrainedTokenizerBase, choices: Sequence[str], answer: int) -> str:
    """The SFT target for the quick prompt: letter, option text, end of turn."""
    return f"{LETTERS[answer]}. {choices[answer]}{tokenizer.eos_token or ''}"


def sft_examples(tokenizer: PreTrainedTokenizerBase, records: pa.Table) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, completion ids) per record, tokenized exactly as scoring and evaluation see the prompt."""
    return [
        (
            tokenizer.encode(chat_prompt(tokenizer, question, choices, "quick"), add_special_tokens=False),
            tokenizer.encode(answer_text(tokenizer, choices, answer), add_special_tokens=False),
        )
        for question, choices, answer in zip(
            records["question"].to_pylist(), records["choices"].to_pylist(), records["answer"].to_pylist()
        )
    ]


def letter_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token id of each option letter as the first token of the assistant's reply."""
    ids = []
    for letter in LETTERS:
        encoded = tokenizer.encode(letter, add_special_tokens=False)
        if len(encoded) != 1:
            raise ValueError(f"the tokenizer splits the option letter {letter!r} into {len(encoded)} tokens")
        ids.append(encoded[0])
    return ids


def check_lengths(records: pa.Table, tokenizer: PreTrainedTokenizerBase, max_length: int) -> None:
    """Reject (never truncate) records whose training sequence exceeds `max_length` tokens.

    Truncation would cut the options or the answer and train on a different question than
    the one scored, so a too-long record is bad input, reported before interval 0.
    """
    source = (records.schema.metadata or {}).get(b"source", b"<records>").decode()
    problems = []
    for row, question, choices, answer in zip(
        records["row"].to_pylist(),
        records["question"].to_pylist(),
        records["choices"].to_pylist(),
        records["answer"].to_pylist(),
    ):
        text = chat_prompt(tokenizer, question, choices, "quick") + answer_text(tokenizer, choices, answer)
        n = len(tokenizer.encode(text, add_special_tokens=False))
        if n > max_length:
            problems.append(
                RowProblem(
                    source, row, "question", f"{n} tokens with prompt and answer > model.max_length {max_length}"
                )
            )
    if problems:
        lines = "\n".join(f"  {p}" for p in problems[:20])
        raise DataError(
            f"{source}: {len(problems)} record(s) longer than the model context\n{lines}",
            problems,
            hint="shorten them, drop them from the file, or raise model.max_length",
        )
