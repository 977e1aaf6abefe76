"""How consistently a selection's samples pull the model in one direction.

EDCO's claim is that high-entropy samples agree on where the weights should move: the
authors report a mean cosine of ~0.92 between per-sample gradients and their mean for EDCO's
selection against ~0.82 for a random one on MedQA. This measures the same quantity.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from edco.data.prompts import sft_examples
from edco.scoring.losses import Example, answer_batch, answer_token_losses, evaluating

_BLOCK = re.compile(r"\.(?:layers|h|blocks)\.(\d+)\.")  # Llama/Qwen/Mistral, GPT-2, others


def gradient_consistency(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    max_samples: int,
    seed: int,
    params: list[torch.Tensor] | None = None,
) -> tuple[float, float]:
    """(mean cosine similarity of each sample's answer-loss gradient with the mean gradient of
    those samples, L2 norm of the mean gradient).

    Each gradient is of the record's SFT loss (mean cross-entropy over the answer tokens of
    `sft_examples`) with respect to `params`, by default the trainable parameters (under LoRA,
    the adapters); `last_block_params` bounds the cost for a full fine-tune. At most
    `max_samples` records are used (a seeded subset), one forward and backward each, in eval
    mode so dropout adds no noise. The per-sample gradients are kept (float32, on the model's
    device) until the mean is known: memory is max_samples x trainable parameters x 4 bytes,
    small under LoRA, large for a full fine-tune. Gradients come from `torch.autograd.grad`: the
    parameters' values and `.grad` are never touched.
    """
    if records.num_rows == 0:
        raise ValueError("gradient consistency needs at least one record")
    chosen = records.take(subset(records.num_rows, max_samples, seed))
    params = params if params is not None else [p for p in model.parameters() if p.requires_grad]
    with evaluating(model), torch.enable_grad():
        grads = torch.stack([flat_gradient(model, params, ex) for ex in sft_examples(tokenizer, chosen)])
    mean = grads.mean(dim=0)
    cosines = torch.nn.functional.cosine_similarity(grads, mean.unsqueeze(0), dim=1)
    return float(cosines.mean()), float(mean.norm())


def last_block_params(model: PreTrainedModel, blocks: int) -> list[torch.Tensor]:
    """The trainable parameters of the last `blocks` transformer blocks (all trainable ones when
    the blocks cannot be told apart by name).

    `autograd.grad` with respect to these backpropagates through those blocks only, and a
    per-sample gradient is a few blocks' worth of floats instead of the whole model's, so the
    diagnostic costs about one forward pass per sample even for a full fine-tune.
    """
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    block = {name: int(m.group(1)) for name, _ in named if (m := _BLOCK.search(name))}
    if not block:
        return [p for _, p in named]
    last = sorted(set(block.values()))[-blocks:]
    return [p for name, p in named if block.get(name) in last]


def subset(n: int, max_samples: int, seed: int) -> list[int]:
    """All row indices when they fit, else a seeded sample of `max_samples` of them, in row order."""
    if n <= max_samples:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, size=max_samples, replace=False).tolist())


def flat_gradient(model: PreTrainedModel, params: list[torch.Tensor], example: Example) -> torch.Tensor:
    """One example's answer-loss gradient over `params`, flattened to one float32 vector."""
    loss = answer_token_losses(model, answer_batch([example], model.device))[0][0]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).float().reshape(-1) for g, p in zip(grads, params)])
