"""Inference entropy of pool samples under the current model: EDCO's selection signal.

`full` generates the answer and averages the entropy of the next-token distribution over
the generated tokens; `prefix` asks for a quick answer and looks only at its first k
tokens, which costs a fraction of the generation while ranking samples nearly the same.
"""

from __future__ import annotations

import math

import pyarrow as pa
import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from edco.config.schema import ScoringConfig
from edco.data.prompts import chat_prompts
from edco.progress import Progress
from edco.scoring.batching import length_batches
from edco.seeds import derive_seed

SCORE_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("score", pa.float64()),
        ("n_tokens", pa.int32()),  # tokens the score averages over (generated, or answer tokens)
        ("model_tokens", pa.int64()),  # tokens the model processed to score the sample: its compute cost
        ("signal", pa.string()),
    ]
)


def score_rows(
    records: pa.Table, scores: list[float | None], n_tokens: list[int], model_tokens: list[int], signal: str
) -> pa.Table:
    """A table in SCORE_SCHEMA, one row per record in the records' order."""
    columns = [
        pa.array(scores, pa.float64()),
        pa.array(n_tokens, pa.int32()),
        pa.array(model_tokens, pa.int64()),
        pa.array([signal] * len(scores)),
    ]
    return pa.table([records["id"], *columns], schema=SCORE_SCHEMA)


def token_entropy(logits: torch.Tensor, top_logprobs: int | None = None, unit: str = "nats") -> torch.Tensor:
    """Shannon entropy of softmax(logits) over the last axis.

    With `top_logprobs=K` the distribution is the top-K log-probabilities renormalised, which
    is what an inference server that returns K logprobs lets the authors' code compute.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    if top_logprobs is not None:
        logp = logp.topk(min(top_logprobs, logp.shape[-1]), dim=-1).values
        logp = logp - torch.logsumexp(logp, dim=-1, keepdim=True)
    entropy = -(logp.exp() * logp).sum(dim=-1)
    return entropy / math.log(2) if unit == "bits" else entropy


def aggregate(entropies: torch.Tensor, how: str, top_fraction: float, rounding: str = "ceil") -> float:
    """One score per sample: the mean, or the mean of the highest `top_fraction` (at least one token).

    How many tokens the fraction keeps matters: with 32 tokens and 0.2, ceil keeps 7 and the
    authors' max(1, int(0.2 T)) keeps 6, which moved scores by up to 0.34 bits on demo items
    and reorders a selection; the published preset uses the authors' rule.
    """
    if how == "top_fraction":
        kept = top_fraction * entropies.numel()
        k = max(1, math.ceil(kept) if rounding == "ceil" else int(kept))
        entropies = entropies.topk(k).values
    return float(entropies.double().mean())


def generation_config(cfg: ScoringConfig, tokenizer: PreTrainedTokenizerBase, eos_ids: list[int]) -> GenerationConfig:
    sampling = cfg.temperature > 0
    return GenerationConfig(
        max_new_tokens=cfg.new_tokens,
        do_sample=sampling,
        temperature=cfg.temperature if sampling else None,
        top_p=cfg.top_p if sampling else None,
        top_k=0 if sampling else None,  # the published estimator samples with top-p alone
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=eos_ids,
        output_logits=True,
        return_dict_in_generate=True,
    )


def generated_entropies(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[str], cfg: ScoringConfig
) -> list[torch.Tensor]:
    """Per-token entropies of each prompt's generated tokens, up to and including its EOS.

    Prompts are left-padded so every row's next token sits at the same position; the raw
    (unprocessed) logits are used, so sampling settings change the path, not the measure.
    """
    stop_ids = eos_ids(tokenizer, model)  # generation stops at, and the mask ends after, the same tokens
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    out = model.generate(**batch, generation_config=generation_config(cfg, tokenizer, stop_ids))
    logits = torch.stack(out.logits, dim=1)  # [batch, steps, vocab]
    tokens = out.sequences[:, batch["input_ids"].shape[1] :]
    entropies = token_entropy(logits, cfg.top_logprobs, cfg.unit)
    is_eos = torch.isin(tokens, torch.tensor(stop_ids, device=tokens.device))
    ended_before = (is_eos.cumsum(dim=1) - is_eos.long()) > 0
    return [row[~done] for row, done in zip(entropies, ended_before)]


def eos_ids(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> list[int]:
    """The token ids generation stops at: the tokenizer's EOS and the model's generation-config EOS
    ids, sorted, without duplicates (empty when neither has one)."""
    ids = model.generation_config.eos_token_id if model.generation_config else None
    ids = ids if isinstance(ids, list) else [ids] if ids is not None else []
    return sorted({tokenizer.eos_token_id, *ids} - {None})


def batch_plan(
    tokenizer: PreTrainedTokenizerBase, records: pa.Table, instruction: str, batch_size: int
) -> tuple[list[str], list[int], list[list[int]]]:
    """The prompts under `instruction`, their token lengths, and the batches (record positions) they
    are generated in: the same plan whichever backend scores them (`edco.scoring.ray_scoring` sends
    its batches to workers), and the plan of the greedy answers evaluation reads."""
    prompts = chat_prompts(tokenizer, records, instruction)
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    return prompts, lengths, length_batches(lengths, batch_size)


def batch_seed(seed: int | None, batch: int) -> int | None:
    """Batch `batch`'s own sampling seed: its scores then depend on nothing but the batch, not on
    which worker scored it or after which other batch."""
    return None if seed is None else derive_seed(seed, batch, "score.batch")


@torch.no_grad()
def score_batch(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[str], cfg: ScoringConfig, seed: int | None
) -> list[tuple[float, int]]:
    """(score, tokens it averages over) of each prompt of one batch; `seed` seeds the sampling
    (None: the RNG as the caller left it)."""
    model.eval()
    if seed is not None:
        torch.manual_seed(seed)
    entropies = generated_entropies(model, tokenizer, prompts, cfg)
    return [(aggregate(e, cfg.aggregate, cfg.top_fraction, cfg.top_rounding), e.numel()) for e in entropies]


def entropy_rows(
    records: pa.Table, lengths: list[int], scored: list[tuple[float, int]], cfg: ScoringConfig
) -> pa.Table:
    """The score table from each record's (score, tokens), in the records' order."""
    scores, n_tokens = [s for s, _ in scored], [n for _, n in scored]
    model_tokens = [length + generated for length, generated in zip(lengths, n_tokens)]
    return score_rows(records, scores, n_tokens, model_tokens, f"{cfg.mode}_entropy_{cfg.unit}")


def score_table(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    cfg: ScoringConfig,
    progress: Progress | None = None,
    seed: int | None = None,
) -> pa.Table:
    """Score every record exactly once, keyed by id, whatever the batch remainder.

    Prompts are batched by length so padding stays small (`edco.scoring.batching`). With `seed`,
    each batch samples under its own seed (`batch_seed`), as the Ray backend does; without, the
    caller seeds the global torch RNG beforehand when sampling.
    """
    prompts, lengths, batches = batch_plan(tokenizer, records, cfg.instruction, cfg.batch_size)
    scored: list[tuple[float, int]] = [(math.nan, 0)] * len(prompts)
    done = 0
    for k, idx in enumerate(batches):
        for i, result in zip(idx, score_batch(model, tokenizer, [prompts[i] for i in idx], cfg, batch_seed(seed, k))):
            scored[i] = result
        done += len(idx)
        if progress:
            progress(done, len(prompts))
    return entropy_rows(records, lengths, scored, cfg)
