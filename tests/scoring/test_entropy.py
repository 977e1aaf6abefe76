"""Entropy scoring checked against an unbatched reference computed from raw logits."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest
import torch

from edco.config.schema import ScoringConfig
from edco.data.prompts import chat_prompt
from edco.scoring.entropy import aggregate, score_table, token_entropy
from tests.helpers import QUESTIONS, choice, make_records


def reference_entropies(model, tokenizer, prompt: str, n_new: int) -> list[float]:
    """Greedy decoding one token at a time, no KV cache, no padding; entropy from softmax."""
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
    out = []
    with torch.no_grad():
        for _ in range(n_new):
            logits = model(ids, use_cache=False).logits[0, -1].double()
            out.append(float(torch.special.entr(torch.softmax(logits, -1)).sum()))
            token = logits.argmax().view(1, 1)
            if token.item() == tokenizer.eos_token_id:
                break
            ids = torch.cat([ids, token], dim=1)
    return out


@pytest.mark.parametrize("mode, instruction", [("prefix", "quick"), ("full", "reasoning")])
def test_batched_scores_match_unbatched_reference(tiny, mode, instruction):
    model, tokenizer = tiny
    records = make_records(QUESTIONS)
    cfg = ScoringConfig(mode=mode, prefix_tokens=5, max_new_tokens=9, batch_size=3)
    table = score_table(model, tokenizer, records, cfg)
    for row, (question, choices) in enumerate(zip(QUESTIONS, records["choices"].to_pylist())):
        ref = reference_entropies(
            model, tokenizer, chat_prompt(tokenizer, choice(question, choices), instruction), cfg.new_tokens
        )
        assert table["n_tokens"][row].as_py() == len(ref)
        assert table["score"][row].as_py() == pytest.approx(sum(ref) / len(ref), abs=1e-4)
    assert table["sample_id"].to_pylist() == records["id"].to_pylist()


def test_token_entropy_of_known_distributions():
    uniform = torch.zeros(1, 8)
    assert token_entropy(uniform).item() == pytest.approx(math.log(8))
    assert token_entropy(uniform, unit="bits").item() == pytest.approx(3.0)
    # top-2 of [ln 4, ln 2, ln 1, ln 1] renormalised is (2/3, 1/3)
    logits = torch.log(torch.tensor([[4.0, 2.0, 1.0, 1.0]]))
    expected = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert token_entropy(logits, top_logprobs=2).item() == pytest.approx(expected)


def test_top_fraction_keeps_the_highest_entropies():
    values = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.7])
    assert aggregate(values, "top_fraction", 0.2) == pytest.approx(0.9)  # ceil(0.2*5)=1 token
    assert aggregate(values, "top_fraction", 0.5) == pytest.approx((0.9 + 0.7 + 0.5) / 3)
    assert aggregate(values, "top_fraction", 0.01) == pytest.approx(0.9)  # at least one token
    assert aggregate(values, "mean", 0.2) == pytest.approx(0.5)


@pytest.mark.parametrize("n, batch", [(7, 3), (2, 8), (1, 1)])
def test_every_sample_scored_once_whatever_the_remainder(tiny, n, batch):
    model, tokenizer = tiny
    records = make_records(QUESTIONS[:n])
    table = score_table(model, tokenizer, records, ScoringConfig(prefix_tokens=2, batch_size=batch))
    assert table["sample_id"].to_pylist() == records["id"].to_pylist()
    assert all(not math.isnan(s) for s in table["score"].to_pylist())


def test_identical_questions_stay_two_samples(tiny):
    model, tokenizer = tiny
    one = make_records([QUESTIONS[1]])
    records = pa.concat_tables([one, one]).set_column(0, "id", pa.array(["a", "b"]))
    table = score_table(model, tokenizer, records, ScoringConfig(prefix_tokens=3, batch_size=4))
    assert table["sample_id"].to_pylist() == ["a", "b"]
    assert table["score"][0].as_py() == pytest.approx(table["score"][1].as_py(), abs=1e-5)


def test_published_estimator_presets_and_reproducible_sampling(tiny):
    model, tokenizer = tiny
    cfg = ScoringConfig(estimator="published", max_new_tokens=12, prefix_tokens=12, batch_size=4)
    assert (cfg.temperature, cfg.top_p, cfg.top_logprobs, cfg.aggregate, cfg.unit) == (
        0.7,
        0.7,
        20,
        "top_fraction",
        "bits",
    )
    assert cfg.instruction == "published"
    records = make_records(QUESTIONS)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        runs.append(score_table(model, tokenizer, records, cfg)["score"].to_pylist())
    assert runs[0] == runs[1]
    assert max(runs[0]) <= math.log2(20) + 1e-9  # top-20 entropy in bits is at most log2(20)


@pytest.mark.parametrize("tokens, ceil_kept, floor_kept", [(32, 7, 6), (128, 26, 25)])
def test_top_fraction_rounding_follows_the_authors_code_in_the_published_preset(tokens, ceil_kept, floor_kept):
    entropies = torch.arange(1, tokens + 1, dtype=torch.float64)  # the top k of 1..T average (2T - k + 1) / 2
    assert aggregate(entropies, "top_fraction", 0.2, "ceil") == (2 * tokens - ceil_kept + 1) / 2
    assert aggregate(entropies, "top_fraction", 0.2, "floor") == (2 * tokens - floor_kept + 1) / 2  # max(1, int(0.2 T))
    assert ScoringConfig(estimator="published").top_rounding == "floor"
    assert ScoringConfig().top_rounding == "ceil"
