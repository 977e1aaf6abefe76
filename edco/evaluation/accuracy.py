"""Held-out accuracy: the number a curriculum is judged by, read three ways in one pass.

- `letter`: argmax over the option letters' logits at the first reply token.
- `cloze`: argmax over the options of the mean per-token log-likelihood of the whole reply
  "X. option text" (as evaluation harnesses score multiple choice).
- `option_text`: the same over the option text alone, given the prompt and its own "X. ".

Why three: a small model learns the content of the task before it learns to put the right
letter first. Trained on a handful of samples, SmolLM2-135M's letter readout collapses onto
whichever letter dominated its last batch, while the likelihood it gives each option's text
tracks what it learned; the letter itself is one token of ~15 in the reply and carries the
letter prior. `evaluation.method` picks the one reported as `accuracy`; all three are kept.

Each question's prompt runs once (left-padded batch, KV cache kept); every option reply of
the batch is then scored in one more forward on the cached prefixes, so the likelihood
readouts cost a few option tokens beyond the letter readout's single forward. The batches are
the scorer's length plan (`edco.scoring.entropy.batch_plan`): in batches taken in eval-set
order, 19% of the demo eval set's prompt positions were padding (2.6% in the plan).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from edco.data.prompts import LETTERS, letter_token_ids
from edco.models.compat import CACHE
from edco.progress import Progress
from edco.scoring.entropy import batch_plan

METHODS = ("letter", "cloze", "option_text")


@dataclass(frozen=True)
class Predictions:
    """Each readout's score of every option of every question (`scores[method][question][option]`:
    the letter's logit, or the mean log-likelihood of the reply or of its text), and the tokens the
    model read."""

    scores: dict[str, list[list[float]]]
    tokens: int

    def by(self, method: str) -> list[int]:
        """The chosen option of each question: the first of its highest-scored ones."""
        return [max(range(len(row)), key=row.__getitem__) for row in self.scores[method]]

    def gold_probability(self, method: str, answers: list[int]) -> list[float]:
        """Each question's gold option's probability normalised over its options: the softmax of
        the readout's scores (for the likelihoods, of the per-token geometric-mean probabilities).
        Continuous where accuracy is 0 or 1, so a paired comparison sees a model grow surer of an
        answer it already got right, or less wrong about one it still misses."""
        return [
            float(torch.tensor(row, dtype=torch.float64).softmax(0)[gold])
            for row, gold in zip(self.scores[method], answers)
        ]


def option_replies(tokenizer: PreTrainedTokenizerBase, choices: list[str]) -> list[tuple[list[int], int]]:
    """Each option's reply "X. text" as SFT's target writes it (without the end of turn), and
    how many of its leading tokens are the "X." prefix."""
    replies = []
    for i, choice in enumerate(choices):
        prefix = tokenizer.encode(f"{LETTERS[i]}.", add_special_tokens=False)
        ids = tokenizer.encode(f"{LETTERS[i]}. {choice}", add_special_tokens=False)
        replies.append((ids, len(prefix) if ids[: len(prefix)] == prefix else 0))
    return replies


@torch.no_grad()
def predict(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    batch_size: int,
    progress: Progress | None = None,
) -> Predictions:
    model.eval()
    letters = torch.tensor(letter_token_ids(tokenizer), device=model.device)
    choices = records["choices"].to_pylist()
    prompts, _, batches = batch_plan(tokenizer, records, "quick", batch_size)
    found: dict[str, list[list[float]]] = {method: [[] for _ in prompts] for method in METHODS}
    tokens, done = 0, 0
    for idx in batches:
        batch_choices = [choices[i] for i in idx]
        batch = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
        batch = batch.to(model.device)
        first = model(**batch, use_cache=True, logits_to_keep=1)  # only the next-token logits are read
        last = first.logits[:, -1, :].float()  # left padding: the last position is every row's next token
        replies = [option_replies(tokenizer, c) for c in batch_choices]
        cloze, text = _option_likelihoods(model, getattr(first, CACHE), batch["attention_mask"], last, replies)
        for k, i in enumerate(idx):
            found["letter"][i] = last[k, letters[: len(batch_choices[k])]].tolist()
            found["cloze"][i], found["option_text"][i] = cloze[k], text[k]
        tokens += int(batch["attention_mask"].sum()) + sum(len(ids) for r in replies for ids, _ in r)
        done += len(idx)
        if progress:
            progress(done, len(prompts))
    return Predictions(found, tokens)


def _option_likelihoods(
    model: PreTrainedModel,
    cache: object,
    prompt_mask: torch.Tensor,
    last: torch.Tensor,
    replies: list[list[tuple[list[int], int]]],
) -> tuple[list[list[float]], list[list[float]]]:
    """Per question, each option's mean log-likelihood of its whole reply, and of its text alone."""
    rows = torch.tensor([q for q, options in enumerate(replies) for _ in options], device=model.device)
    flat = [reply for options in replies for reply in options]
    width = max(len(ids) for ids, _ in flat)
    ids = torch.full((len(flat), width), 0, dtype=torch.long, device=model.device)
    mask = torch.zeros((len(flat), width), dtype=torch.long, device=model.device)
    text = torch.zeros((len(flat), width), dtype=torch.bool, device=model.device)
    for k, (reply, prefix) in enumerate(flat):
        ids[k, : len(reply)] = torch.tensor(reply, device=model.device)
        mask[k, : len(reply)] = 1
        text[k, prefix : len(reply)] = True
    cache.batch_select_indices(rows)  # every option row continues its own question's prompt
    # RoPE is relative, so the common offset of a left-padded row's positions changes no score.
    logits = model(input_ids=ids, attention_mask=torch.cat([prompt_mask[rows], mask], dim=1), **{CACHE: cache}).logits
    logp = torch.cat([last.log_softmax(-1)[rows].unsqueeze(1), logits[:, :-1].float().log_softmax(-1)], dim=1)
    token_ll = logp.gather(2, ids.unsqueeze(2)).squeeze(2) * mask
    whole = token_ll.sum(1) / mask.sum(1)
    alone = (token_ll * text).sum(1) / text.sum(1).clamp(min=1)
    cloze, option_text, k = [], [], 0
    for options in replies:
        cloze.append(whole[k : k + len(options)].tolist())
        option_text.append(alone[k : k + len(options)].tolist())
        k += len(options)
    return cloze, option_text


def accuracy(predictions: list[int], records: pa.Table) -> float:
    answers = records["answer"].to_pylist()
    return sum(p == a for p, a in zip(predictions, answers)) / len(answers)
