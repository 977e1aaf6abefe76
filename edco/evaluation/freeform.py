"""Held-out measures of free-form answers (reference and chat records), per evaluated interval.

- `reference_nll`: mean per-token negative log-likelihood (nats) of the reference given the
  prompt, without the end of turn. Continuous and cheap (one teacher-forced pass, no
  generation), so it moves with training long before a small model's answers change words.
- on greedy answers of up to `evaluation.max_new_tokens` tokens: `exact_match`, `token_f1` and
  `rouge_l` (`edco.evaluation.overlap`), and the judge's acceptance rate when a judge is set.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from edco.config.schema import EvaluationConfig
from edco.data.kinds import references, rows
from edco.data.prompts import sft_examples
from edco.evaluation.items import free_form_items
from edco.evaluation.judge import Judge, Question, acceptance
from edco.evaluation.overlap import MEASURES
from edco.progress import Progress
from edco.scoring.entropy import batch_plan, eos_ids
from edco.scoring.losses import batched_answer_losses


def reference_nlls(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, records: pa.Table, batch_size: int
) -> tuple[list[float], int]:
    """Each record's mean reference NLL given its quick prompt (the prompt SFT trains on), and the
    tokens the model read for them."""
    examples = sft_examples(tokenizer, records, end=False)
    nlls = batched_answer_losses(model, examples, batch_size)[0]
    return nlls, sum(len(prompt) + len(reference) for prompt, reference in examples)


@torch.no_grad()
def greedy_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    max_new_tokens: int,
    batch_size: int,
    progress: Progress | None = None,
) -> tuple[list[str], int]:
    """Each record's greedy answer to its quick prompt, up to its end of turn, and the tokens read."""
    model.eval()
    prompts, lengths, batches = batch_plan(tokenizer, records, "quick", batch_size)
    stop = eos_ids(tokenizer, model)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id, eos_token_id=stop
    )
    answers: list[str] = [""] * len(prompts)
    spent, done = 0, 0
    for idx in batches:
        batch = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
        out = model.generate(**batch.to(model.device), generation_config=config)
        for i, tokens in zip(idx, out[:, batch["input_ids"].shape[1] :].tolist()):
            end = next((k for k, t in enumerate(tokens) if t in stop), len(tokens))
            answers[i] = tokenizer.decode(tokens[:end], skip_special_tokens=True).strip()
            spent += lengths[i] + end
        done += len(idx)
        if progress:
            progress(done, len(prompts))
    return answers, spent


def free_form_metrics(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    cfg: EvaluationConfig,
    judge: Judge | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The interval's free-form metrics, means over the eval set, `evaluate_tokens`, and the
    per-item results (`items`, `edco.evaluation.items`)."""
    nll, spent = reference_nlls(model, tokenizer, records, cfg.batch_size)
    measured: dict[str, list[Any]] = {"reference_nll": nll}
    answers = None
    out: dict[str, Any] = {}
    if cfg.max_new_tokens:
        answers, generated = greedy_answers(model, tokenizer, records, cfg.max_new_tokens, cfg.batch_size, progress)
        spent += generated
        records_ = rows(records)
        acceptable = [references(record) for record in records_]
        for name, measure in MEASURES.items():
            measured[name] = [measure(a, refs) for a, refs in zip(answers, acceptable)]
        if judge is not None:
            verdicts = judge.verdicts(
                [Question(r["question"], a, refs[0]) for r, a, refs in zip(records_, answers, acceptable)]
            )
            measured["judge_accuracy"] = [None if v is None else float(v) for v in verdicts]
            out |= acceptance(verdicts)
    elif progress:
        progress(len(nll), len(nll))
    means = {name: sum(values) / len(values) for name, values in measured.items() if name != "judge_accuracy"}
    return {**means, **out, "evaluate_tokens": spent, "items": free_form_items(records, measured, answers)}
