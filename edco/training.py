"""Supervised fine-tuning on one interval's selection, loss on answer tokens only.

A plain loop, read top to bottom: the selection is small (tens to thousands of samples),
and owning the loop keeps every step deterministic under a per-interval seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyarrow as pa
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from edco.config import TrainingConfig
from edco.entropy import Progress
from edco.prompts import answer_text, chat_prompt

IGNORE = -100


@dataclass(frozen=True)
class TrainStats:
    loss: float  # mean answer-token loss over the interval's steps
    steps: int
    grad_norm: float  # mean pre-clipping gradient norm, a diagnostic of how hard the batch pulls


def sft_examples(tokenizer: PreTrainedTokenizerBase, records: pa.Table) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per record; prompt positions are masked out of the loss."""
    examples = []
    for question, choices, answer in zip(
        records["question"].to_pylist(), records["choices"].to_pylist(), records["answer"].to_pylist()
    ):
        prompt = tokenizer.encode(chat_prompt(tokenizer, question, choices, "quick"), add_special_tokens=False)
        target = tokenizer.encode(answer_text(tokenizer, choices, answer), add_special_tokens=False)
        examples.append((prompt + target, [IGNORE] * len(prompt) + target))
    return examples


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, labs) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(labs)] = torch.tensor(labs)
        mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def sft(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    cfg: TrainingConfig,
    seed: int,
    progress: Progress | None = None,
) -> TrainStats:
    """Fresh AdamW each interval: an interval is a self-contained unit that resume can redo."""
    examples = sft_examples(tokenizer, records)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    losses, norms = [], []
    total_steps = cfg.epochs * math.ceil(len(examples) / cfg.batch_size)
    for _ in range(cfg.epochs):
        order = torch.randperm(len(examples), generator=generator).tolist()
        for start in range(0, len(order), cfg.batch_size):
            batch = collate([examples[i] for i in order[start : start + cfg.batch_size]], tokenizer.pad_token_id)
            loss = model(**batch).loss
            loss.backward()
            norms.append(float(torch.nn.utils.clip_grad_norm_(params, max_norm=1.0)))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            if progress:
                progress(len(losses), total_steps)
    model.eval()
    mean = lambda xs: sum(xs) / len(xs) if xs else math.nan  # noqa: E731
    return TrainStats(loss=mean(losses), steps=len(losses), grad_norm=mean(norms))
