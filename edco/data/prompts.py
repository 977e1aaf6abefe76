"""The prompts the model sees: one place, so scoring, training and evaluation agree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from transformers import PreTrainedTokenizerBase

from edco.data.kinds import LETTERS, kind_of, rows
from edco.errors import DataError, RowProblem

INSTRUCTIONS: dict[str, str] = {
    # Quick answer: letter first, so prefix entropy sees the decision within a few tokens,
    # and evaluation can read the answer from the first token's logits.
    "quick": "Reply with the letter of the correct option first, then at most one short sentence.",
    "reasoning": "Think it through in a few sentences, then finish with 'Answer: <letter>'.",
    # The authors' released estimator: a quick answer with minimal reasoning.
    "published": "Answer in at most three sentences, with minimal reasoning.",
}


# The same instructions for free-form answers: what the quick answer puts first is the key point,
# not a letter. The published one already asks for no letter, so both kinds share it: on the same
# prompt text a reference record scores exactly as a choice record does.
FREE_FORM_INSTRUCTIONS: dict[str, str] = {
    "quick": "Answer briefly: the key point first, in at most two sentences.",
    "reasoning": "Think it through in a few sentences, then give your answer.",
    "published": INSTRUCTIONS["published"],
}


def format_question(question: str, choices: Sequence[str]) -> str:
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return f"{question}\n\n{options}"


def conversation(record: dict[str, Any], instruction: str) -> list[dict[str, str]]:
    """The turns the model answers: the question under the instruction (its options for a choice
    record, its context and system prompt for a reference record), or a chat record's
    conversation up to its last assistant turn, as it is."""
    kind = record["kind"]
    if kind == "chat":
        return [{"role": m["role"], "content": m["content"]} for m in record["messages"][:-1]]
    if kind == "choice":
        return [
            {
                "role": "user",
                "content": f"{format_question(record['question'], record['choices'])}\n\n{INSTRUCTIONS[instruction]}",
            }
        ]
    body = "\n\n".join(part for part in (record["question"], record.get("context")) if part)
    system = [{"role": "system", "content": record["system"]}] if record.get("system") else []
    return [*system, {"role": "user", "content": f"{body}\n\n{FREE_FORM_INSTRUCTIONS[instruction]}"}]


def render(tokenizer: PreTrainedTokenizerBase, turns: list[dict[str, str]]) -> str:
    """The turns plus the assistant header, as text: generation and answer tokens continue it."""
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
    return "\n\n".join(turn["content"] for turn in turns) + "\nAnswer: "


def chat_prompt(tokenizer: PreTrainedTokenizerBase, record: dict[str, Any], instruction: str) -> str:
    """The prompt text of one record (any kind)."""
    return render(tokenizer, conversation(record, instruction))


def chat_prompts(tokenizer: PreTrainedTokenizerBase, records: pa.Table, instruction: str) -> list[str]:
    """`chat_prompt` of every record, in the records' order: what the scorer feeds the model."""
    return [chat_prompt(tokenizer, record, instruction) for record in rows(records)]


def trainer_prompt(
    tokenizer: PreTrainedTokenizerBase, record: dict[str, Any], instruction: str
) -> str | list[dict[str, str]]:
    """The prompt as TRL's trainers take it: the conversation when the tokenizer has a chat
    template (TRL renders it exactly as `chat_prompt` does, with no second BOS), else the text."""
    if tokenizer.chat_template:
        return conversation(record, instruction)
    return chat_prompt(tokenizer, record, instruction)


def answer_text(tokenizer: PreTrainedTokenizerBase, choices: Sequence[str], answer: int) -> str:
    """The SFT target for the quick prompt: letter, option text, end of turn."""
    return target_text(tokenizer, {"kind": "choice", "choices": choices, "answer": answer})


def reply_text(record: dict[str, Any]) -> str:
    """What a record teaches the model to say: the gold option's "X. text", the reference, or the
    last assistant turn."""
    if record["kind"] == "choice":
        return f"{LETTERS[record['answer']]}. {record['choices'][record['answer']]}"
    return record["messages"][-1]["content"] if record["kind"] == "chat" else record["reference"]


def target_text(tokenizer: PreTrainedTokenizerBase, record: dict[str, Any], *, end: bool = True) -> str:
    """The SFT target: `reply_text`, then the end of turn (`end`), as the model must learn to stop."""
    return reply_text(record) + (tokenizer.eos_token or "" if end else "")


def sft_examples(
    tokenizer: PreTrainedTokenizerBase, records: pa.Table, *, end: bool = True
) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, completion ids) per record, tokenized exactly as scoring and evaluation see the prompt."""
    return [
        (
            tokenizer.encode(chat_prompt(tokenizer, record, "quick"), add_special_tokens=False),
            tokenizer.encode(target_text(tokenizer, record, end=end), add_special_tokens=False),
        )
        for record in rows(records)
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
    field = "messages" if kind_of(records) == "chat" else "question"
    problems = []
    for record, (prompt, target) in zip(rows(records), sft_examples(tokenizer, records)):
        n = len(prompt) + len(target)
        if n > max_length:
            problems.append(
                RowProblem(
                    source, record["row"], field, f"{n} tokens with prompt and answer > model.max_length {max_length}"
                )
            )
    if problems:
        lines = "\n".join(f"  {p}" for p in problems[:20])
        raise DataError(
            f"{source}: {len(problems)} record(s) longer than the model context\n{lines}",
            problems,
            hint="shorten them, drop them from the file, or raise model.max_length",
        )
