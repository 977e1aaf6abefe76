"""Answer-loss signals checked against an unbatched reference computed from raw logits."""

from __future__ import annotations

import math

import pytest
import torch

from edco.data.prompts import answer_text, chat_prompt, sft_examples
from edco.scoring.entropy import SCORE_SCHEMA
from edco.scoring.losses import answer_losses
from edco.scoring.signals import ifd_table, length_table, perplexity_table
from tests.helpers import QUESTIONS, choice, make_records


def reference_loss(model, context: list[int], answer: list[int]) -> float:
    """Mean -log p(answer token | everything before it), one unpadded sequence, float64."""
    ids = torch.tensor([context + answer])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
    start = len(context)
    return -sum(float(logp[start + k - 1, tok]) for k, tok in enumerate(answer)) / len(answer)


def reference_pairs(tokenizer, records) -> list[tuple[list[int], list[int], list[int]]]:
    """(prompt ids, BOS alone, answer ids) per record, tokenized here rather than by the code under test."""
    out = []
    for question, choices, answer in zip(QUESTIONS, records["choices"].to_pylist(), records["answer"].to_pylist()):
        prompt = tokenizer.encode(chat_prompt(tokenizer, choice(question, choices), "quick"), add_special_tokens=False)
        target = tokenizer.encode(answer_text(tokenizer, choices, answer), add_special_tokens=False)
        out.append((prompt, [tokenizer.bos_token_id], target))
    return out


@pytest.mark.parametrize("with_question", [True, False])
def test_batched_losses_match_unbatched_reference(tiny, with_question):
    model, tokenizer = tiny
    records = make_records(QUESTIONS)  # 7 records, batch 3: a remainder of 1
    losses, counts = answer_losses(model, tokenizer, records, 3, with_question=with_question)
    for row, (prompt, bos, target) in enumerate(reference_pairs(tokenizer, records)):
        assert counts[row] == len(target)
        assert losses[row] == pytest.approx(reference_loss(model, prompt if with_question else bos, target), abs=1e-5)


def sft_loss(model, prompt: list[int], completion: list[int]) -> float:
    """The model's own causal-LM loss with the prompt masked out, as completion-only SFT computes it."""
    ids, labels = torch.tensor([prompt + completion]), torch.tensor([[-100] * len(prompt) + completion])
    with torch.no_grad():
        return float(model(input_ids=ids, labels=labels).loss)


def test_loss_with_question_is_the_sft_loss(tiny):
    model, tokenizer = tiny
    records = make_records(QUESTIONS)
    losses, _ = answer_losses(model, tokenizer, records, 4)
    assert losses == pytest.approx([sft_loss(model, p, c) for p, c in sft_examples(tokenizer, records)], abs=1e-5)


def test_perplexity_is_exp_of_the_conditioned_loss(tiny):
    model, tokenizer = tiny
    records = make_records(QUESTIONS)
    table = perplexity_table(model, tokenizer, records, 3)
    assert table.schema == SCORE_SCHEMA
    assert set(table["signal"].to_pylist()) == {"answer_perplexity"}
    for row, (prompt, _, target) in enumerate(reference_pairs(tokenizer, records)):
        assert table["score"][row].as_py() == pytest.approx(math.exp(reference_loss(model, prompt, target)), rel=1e-5)
        assert table["n_tokens"][row].as_py() == len(target)


def test_ifd_is_conditioned_over_unconditioned_loss(tiny):
    model, tokenizer = tiny
    records = make_records(QUESTIONS)
    table = ifd_table(model, tokenizer, records, 3)
    assert table.schema == SCORE_SCHEMA
    assert set(table["signal"].to_pylist()) == {"ifd"}
    for row, (prompt, bos, target) in enumerate(reference_pairs(tokenizer, records)):
        expected = reference_loss(model, prompt, target) / reference_loss(model, bos, target)
        assert table["score"][row].as_py() == pytest.approx(expected, rel=1e-5)
        assert table["score"][row].as_py() > 0


def test_length_counts_prompt_and_answer_tokens(tiny):
    _, tokenizer = tiny
    records = make_records(QUESTIONS)
    table = length_table(tokenizer, records)
    assert table.schema == SCORE_SCHEMA
    expected = [len(p) + len(t) for p, _, t in reference_pairs(tokenizer, records)]
    assert table["score"].to_pylist() == expected
    assert table["n_tokens"].to_pylist() == expected
    assert set(table["signal"].to_pylist()) == {"length_tokens"}


@pytest.mark.parametrize("n, batch", [(7, 3), (2, 8), (1, 1)])
def test_rows_keep_the_records_order_and_ids(tiny, n, batch):
    model, tokenizer = tiny
    ids = [f"z{9 - i}" for i in range(n)]  # not sorted, so sorting by id or length would show
    records = make_records(QUESTIONS[:n], ids=ids)
    for table in (perplexity_table(model, tokenizer, records, batch), ifd_table(model, tokenizer, records, batch)):
        assert table["sample_id"].to_pylist() == ids
        assert all(math.isfinite(s) for s in table["score"].to_pylist())


def test_progress_reaches_the_total_and_mode_is_restored(tiny):
    model, tokenizer = tiny
    records = make_records(QUESTIONS)
    seen: list[tuple[int, int]] = []
    was_training = model.training
    model.train()
    try:
        ifd_table(model, tokenizer, records, 3, progress=lambda done, total: seen.append((done, total)))
        assert model.training
    finally:
        model.train(was_training)
    done = [d for d, _ in seen]
    assert (
        {t for _, t in seen} == {14} and done == sorted(set(done)) and 7 in done and done[-1] == 14
    )  # two passes of 7
