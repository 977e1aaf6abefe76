from __future__ import annotations

import torch

from edco.evaluation import accuracy, predict_choices
from edco.prompts import LETTERS, chat_prompt
from tests.conftest import QUESTIONS, make_records


def test_batched_predictions_match_unpadded_letter_argmax(tiny):
    model, tokenizer = tiny
    records = make_records(QUESTIONS)
    predictions = predict_choices(model, tokenizer, records, batch_size=3)
    for question, choices, predicted in zip(QUESTIONS, records["choices"].to_pylist(), predictions):
        ids = tokenizer(chat_prompt(tokenizer, question, choices, "quick"), add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            last = model(ids).logits[0, -1]
        letter_ids = [tokenizer.convert_tokens_to_ids(letter) for letter in LETTERS[: len(choices)]]
        assert predicted == int(torch.stack([last[i] for i in letter_ids]).argmax())


def test_accuracy_counts_exact_matches():
    records = make_records(QUESTIONS[:4])  # answers 0, 1, 0, 1
    assert accuracy([0, 1, 1, 1], records) == 0.75
