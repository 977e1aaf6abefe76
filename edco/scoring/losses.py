"""Teacher-forced answer losses: the loss of each record's gold answer given its prompt (or given
nothing), one forward pass a batch and no generation.

The perplexity and IFD signals, the diagnostics and the trainers' stats all read these. Rows are
batched by length (`edco.scoring.batching`) and right-padded: under causal attention a real token
never sees the padding after it, so padding changes no value. Losses are computed in float32
whatever the model's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from edco.data.prompts import sft_examples
from edco.progress import Progress
from edco.scoring.batching import length_batches

Example = tuple[list[int], list[int]]
"""(context ids, answer ids): the loss is on the answer tokens, each given all before it."""


def answer_alone_examples(tokenizer: PreTrainedTokenizerBase, records: pa.Table) -> list[Example]:
    """Each gold answer after a single start token, and nothing else.

    The answer tokens are exactly the SFT targets (`sft_examples`), so loss(A) and loss(A|Q)
    average over the same tokens. The first answer token needs something to be predicted
    from: the BOS token (EOS when the tokenizer has no BOS) is the least informative context
    a causal LM knows, and it is what the IFD reference implementation (Cherry LLM) feeds,
    since its tokenizer prepends BOS to the bare answer and scores every token after it.
    """
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return [([start], target) for _, target in sft_examples(tokenizer, records)]


def answer_batch(examples: list[Example], device: torch.device) -> dict[str, torch.Tensor]:
    """Right-padded `input_ids` and `attention_mask`, and `answer`: True where the token is an answer token.

    Padding sits after every real token, so causal attention never lets a real position see
    it; its id (0) is never read.
    """
    width = max(len(context) + len(target) for context, target in examples)
    input_ids = torch.zeros((len(examples), width), dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    answer = torch.zeros((len(examples), width), dtype=torch.bool)
    for row, (context, target) in enumerate(examples):
        end = len(context) + len(target)
        input_ids[row, :end] = torch.tensor(context + target)
        attention_mask[row, :end] = 1
        answer[row, len(context) : end] = True
    return {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device), "answer": answer.to(device)}


def answer_token_losses(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: mean cross-entropy (nats, float32) over the answer tokens, and their count.

    Only the answer positions' logits are upcast, so a long prompt costs no float32 copy of
    its vocabulary-wide logits. Differentiable: the diagnostics take gradients of it.
    """
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    tokens, scored = batch["input_ids"][:, 1:], batch["answer"][:, 1:]  # position t predicts token t + 1
    losses = torch.zeros(tokens.shape, dtype=torch.float32, device=logits.device)
    losses[scored] = torch.nn.functional.cross_entropy(logits[scored].float(), tokens[scored], reduction="none")
    counts = scored.sum(dim=1)
    return losses.sum(dim=1) / counts, counts


@contextmanager
def evaluating(model: PreTrainedModel) -> Iterator[None]:
    """Eval mode (no dropout: a measurement must not be noisy), then every module's mode as found."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.train(training)


@torch.no_grad()
def batched_answer_losses(
    model: PreTrainedModel, examples: list[Example], batch_size: int, progress: Progress | None = None
) -> tuple[list[float], list[int]]:
    """Mean answer loss and answer token count of each example, in the examples' order."""
    losses: list[float] = [math.nan] * len(examples)
    counts: list[int] = [0] * len(examples)
    done = 0
    with evaluating(model):
        for idx in length_batches([sum(map(len, example)) for example in examples], batch_size):
            means, n = answer_token_losses(model, answer_batch([examples[i] for i in idx], model.device))
            for i, mean, count in zip(idx, means.tolist(), n.tolist()):
                losses[i], counts[i] = mean, count
            done += len(idx)
            if progress:
                progress(done, len(examples))
    return losses, counts


def answer_losses(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    batch_size: int,
    *,
    with_question: bool = True,
    progress: Progress | None = None,
) -> tuple[list[float], list[int]]:
    """Mean per-token cross-entropy (nats) of each record's gold answer, and its token count.

    with_question=True conditions on the quick chat prompt: exactly the prompt and completion
    tokens SFT trains on (`sft_examples`), so the value is the record's SFT loss. with_question=False
    conditions on a single BOS token (see `answer_alone_examples`), as IFD's loss(A) needs.
    """
    build = sft_examples if with_question else answer_alone_examples
    return batched_answer_losses(model, build(tokenizer, records), batch_size, progress)
