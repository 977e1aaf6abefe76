"""Free-form evaluation against independent computations: the reference NLL unbatched, greedy answers
one by one, and the overlap measures by hand."""

from __future__ import annotations

import pytest
import torch

from edco.config.schema import EvaluationConfig
from edco.data.kinds import rows
from edco.data.prompts import chat_prompt
from edco.evaluation.freeform import free_form_metrics, greedy_answers, reference_nlls
from edco.evaluation.overlap import exact_match, normalise, rouge_l, token_f1
from tests.helpers import QUESTIONS, make_free_form_records


def unbatched_nll(model, tokenizer, record: dict) -> float:
    prompt = tokenizer.encode(chat_prompt(tokenizer, record, "quick"), add_special_tokens=False)
    reply = record["reference"] if record["kind"] == "reference" else record["messages"][-1]["content"]
    target = tokenizer.encode(reply, add_special_tokens=False)
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([prompt + target])).logits[0].double(), -1)
    return -sum(float(logp[len(prompt) + k - 1, t]) for k, t in enumerate(target)) / len(target)


@pytest.mark.parametrize("kind", ["reference", "chat"])
def test_reference_nll_matches_an_unbatched_computation(tiny, kind):
    model, tokenizer = tiny
    records = make_free_form_records(kind, QUESTIONS)
    got, _ = reference_nlls(model, tokenizer, records, batch_size=3)
    assert got == pytest.approx([unbatched_nll(model, tokenizer, r) for r in rows(records)], abs=1e-5)


def test_greedy_answers_match_one_prompt_at_a_time(tiny):
    model, tokenizer = tiny
    records = make_free_form_records("reference", QUESTIONS)
    answers, tokens = greedy_answers(model, tokenizer, records, max_new_tokens=6, batch_size=4)
    for record, answer in zip(rows(records), answers):
        ids = tokenizer(chat_prompt(tokenizer, record, "quick"), return_tensors="pt", add_special_tokens=False)
        out = model.generate(**ids, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        new = out[0, ids["input_ids"].shape[1] :].tolist()
        new = new[: new.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in new else new
        assert answer == tokenizer.decode(new, skip_special_tokens=True).strip()
    assert tokens > 0


def test_overlap_measures_by_hand():
    assert normalise("The  Fiber-cut, on GE1/0/2!") == "fiber cut on ge1 0 2"
    assert exact_match("the fiber cut.", ["Fiber cut"]) == 1.0 and exact_match("fiber", ["fiber cut"]) == 0.0
    # "fiber cut occurred" vs "a fiber cut": common {fiber, cut}; P = 2/3, R = 2/2
    assert token_f1("fiber cut occurred", ["a fiber cut"]) == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))
    # LCS of [fan, tray, failed, overheat] and [fan, failed, chassis, overheat] is 3 tokens: P = R = 3/4
    assert rouge_l("fan tray failed overheat", ["fan failed chassis overheat"]) == pytest.approx(0.75)
    assert rouge_l("信道编码", ["信道解码"]) == pytest.approx(0.75), "CJK is compared by character"
    assert token_f1("dirty fiber", ["fan failure", "a dirty fiber"]) == 1.0, "the best acceptable answer counts"


def test_free_form_metrics_gather_the_means(tiny):
    model, tokenizer = tiny
    records = make_free_form_records("chat", QUESTIONS[:4])
    metrics = free_form_metrics(model, tokenizer, records, EvaluationConfig(max_new_tokens=4, batch_size=2))
    assert metrics["reference_nll"] == pytest.approx(sum(reference_nlls(model, tokenizer, records, 2)[0]) / 4)
    answers, _ = greedy_answers(model, tokenizer, records, 4, 2)
    refs = [[r["messages"][-1]["content"]] for r in rows(records)]
    assert metrics["rouge_l"] == pytest.approx(sum(rouge_l(a, r) for a, r in zip(answers, refs)) / 4)
    assert set(metrics) == {"reference_nll", "exact_match", "token_f1", "rouge_l", "evaluate_tokens", "items"}
    items = metrics["items"]
    assert items["item_id"] == records["id"].to_pylist() and items["predicted"] == answers
    assert items["value"] == reference_nlls(model, tokenizer, records, 2)[0]
    assert items["rouge_l"] == [rouge_l(a, r) for a, r in zip(answers, refs)]
    assert items["correct"] == [a == r[0] for a, r in zip(answers, refs)], "no judge: correct is an exact match"
    nll_only = free_form_metrics(model, tokenizer, records, EvaluationConfig(max_new_tokens=0))
    assert set(nll_only) == {"reference_nll", "evaluate_tokens", "items"}
    assert nll_only["items"]["predicted"] == [None] * 4 and nll_only["items"]["correct"] == [None] * 4


def test_the_best_interval_follows_the_metric_direction():
    from edco.evaluation.headline import best_of, headline

    values = {0: 0.5, 1: 0.7, 2: 0.6}
    assert best_of(values, "accuracy") == 1 and best_of(values, "reference_nll") == 0
    assert best_of({}, "rouge_l") is None
    assert headline({"accuracy": 0.4}) == ("accuracy", 0.4), "a store from before free-form kinds"
    assert headline({"metric": None, "accuracy": 0.4}) == ("accuracy", 0.4), "the same run in a view over others"
    assert headline({"metric": "rouge_l", "rouge_l": 0.2, "accuracy": None}) == ("rouge_l", 0.2)
