"""Scoring free-form records: the same estimators on the prompt the model would answer, and the loss
signals on the reference or the last assistant turn."""

from __future__ import annotations

import pyarrow as pa
import pytest
import torch

from edco.config.schema import ScoringConfig
from edco.data.kinds import SCHEMAS, rows
from edco.data.prompts import FREE_FORM_INSTRUCTIONS, chat_prompt, format_question, render, sft_examples
from edco.scoring.entropy import score_table
from edco.scoring.losses import answer_losses
from tests.helpers import QUESTIONS, make_free_form_records, make_records
from tests.scoring.test_signals import reference_loss


def test_a_reference_record_scores_exactly_as_a_choice_record_on_the_same_prompt_text(tiny):
    model, tokenizer = tiny
    choice = make_records(QUESTIONS)
    as_reference = pa.Table.from_pylist(
        [
            {
                "id": r["id"],
                "question": format_question(r["question"], r["choices"]),
                "context": None,
                "system": None,
                "reference": r["choices"][r["answer"]],
                "references": [],
                "category": r["category"],
                "row": r["row"],
            }
            for r in choice.to_pylist()
        ],
        schema=SCHEMAS["reference"],
    )
    for a, b in zip(rows(choice), rows(as_reference)):
        assert chat_prompt(tokenizer, a, "published") == chat_prompt(tokenizer, b, "published")
    for cfg in (
        ScoringConfig(mode="prefix", prefix_tokens=4, prompt="published", batch_size=3),
        ScoringConfig(estimator="published", max_new_tokens=6, prefix_tokens=6, batch_size=3),
    ):
        assert seeded_scores(model, tokenizer, choice, cfg).equals(seeded_scores(model, tokenizer, as_reference, cfg))


def seeded_scores(model, tokenizer, records: pa.Table, cfg: ScoringConfig) -> pa.Table:
    torch.manual_seed(0)  # the published estimator samples
    return score_table(model, tokenizer, records, cfg)


def test_the_reference_prompt_is_question_context_and_instruction(tiny):
    _, tokenizer = tiny
    record = {"kind": "reference", "question": "Why down?", "context": "GE1/0/2 CRC errors.", "system": "Be brief."}
    turns = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": f"Why down?\n\nGE1/0/2 CRC errors.\n\n{FREE_FORM_INSTRUCTIONS['quick']}"},
    ]
    assert chat_prompt(tokenizer, record, "quick") == render(tokenizer, turns)


def test_a_chat_prompt_is_the_conversation_up_to_its_last_turn(tiny):
    _, tokenizer = tiny
    (record,) = rows(make_free_form_records("chat", QUESTIONS[:1]))
    expected = tokenizer.apply_chat_template(record["messages"][:-1], add_generation_prompt=True, tokenize=False)
    assert chat_prompt(tokenizer, record, "quick") == expected


@pytest.mark.parametrize("kind", ["reference", "chat"])
def test_loss_signals_read_the_reference_or_the_last_turn(tiny, kind):
    model, tokenizer = tiny
    records = make_free_form_records(kind, QUESTIONS)
    losses, counts = answer_losses(model, tokenizer, records, 3)
    for record, loss, count in zip(rows(records), losses, counts):
        prompt = tokenizer.encode(chat_prompt(tokenizer, record, "quick"), add_special_tokens=False)
        reply = record["reference"] if kind == "reference" else record["messages"][-1]["content"]
        target = tokenizer.encode(reply + tokenizer.eos_token, add_special_tokens=False)
        assert count == len(target)
        assert loss == pytest.approx(reference_loss(model, prompt, target), abs=1e-5)
    assert [len(t) for _, t in sft_examples(tokenizer, records)] == counts
