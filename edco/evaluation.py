"""Held-out accuracy: the number a curriculum is judged by.

The answer is read from the first reply token's logits restricted to the option letters,
which needs one forward pass per question instead of a generation.
"""

from __future__ import annotations

import pyarrow as pa
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from edco.entropy import Progress
from edco.prompts import chat_prompt, letter_token_ids


@torch.no_grad()
def predict_choices(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    batch_size: int,
    progress: Progress | None = None,
) -> list[int]:
    model.eval()
    letters = torch.tensor(letter_token_ids(tokenizer), device=model.device)
    choices = records["choices"].to_pylist()
    prompts = [chat_prompt(tokenizer, q, c, "quick") for q, c in zip(records["question"].to_pylist(), choices)]
    predictions: list[int] = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        last = model(**batch).logits[:, -1, :]  # left padding: the last position is every row's next token
        for row, options in zip(last, choices[start : start + batch_size]):
            predictions.append(int(row[letters[: len(options)]].argmax()))
        if progress:
            progress(len(predictions), len(prompts))
    return predictions


def accuracy(predictions: list[int], records: pa.Table) -> float:
    answers = records["answer"].to_pylist()
    return sum(p == a for p, a in zip(predictions, answers)) / len(answers)
