from __future__ import annotations

import math

import pytest
import torch

from edco.data.prompts import LETTERS, chat_prompt
from edco.evaluation.accuracy import METHODS, Predictions, accuracy, predict
from tests.helpers import QUESTIONS, choice, make_records


def naive_option_scores(model, tokenizer, question: str, choices: list[str]) -> tuple[list[float], list[float]]:
    """Per option, one unpadded, cache-free forward of prompt + "X. text": the mean log-likelihood
    of the whole reply and of the text after "X."."""
    prompt = tokenizer.encode(chat_prompt(tokenizer, choice(question, choices), "quick"), add_special_tokens=False)
    whole, text = [], []
    for i, option in enumerate(choices):
        prefix = tokenizer.encode(f"{LETTERS[i]}.", add_special_tokens=False)
        reply = tokenizer.encode(f"{LETTERS[i]}. {option}", add_special_tokens=False)
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([prompt + reply])).logits[0].double(), -1)
        token_ll = [float(logp[len(prompt) - 1 + t, tok]) for t, tok in enumerate(reply)]
        whole.append(sum(token_ll) / len(token_ll))
        text.append(sum(token_ll[len(prefix) :]) / len(token_ll[len(prefix) :]))
    return whole, text


def test_batched_readouts_match_unpadded_references(tiny):
    model, tokenizer = tiny
    records = make_records(QUESTIONS)
    got = predict(model, tokenizer, records, batch_size=3)
    gold_probabilities = got.gold_probability("option_text", records["answer"].to_pylist())
    for i, (question, choices) in enumerate(zip(QUESTIONS, records["choices"].to_pylist())):
        ids = tokenizer(
            chat_prompt(tokenizer, choice(question, choices), "quick"), add_special_tokens=False, return_tensors="pt"
        ).input_ids
        with torch.no_grad():
            last = model(ids).logits[0, -1]
        letter_ids = [tokenizer.convert_tokens_to_ids(letter) for letter in LETTERS[: len(choices)]]
        letter_logits = torch.stack([last[j] for j in letter_ids])
        assert got.by("letter")[i] == int(letter_logits.argmax())
        assert got.scores["letter"][i] == pytest.approx(letter_logits.tolist(), abs=1e-4)
        whole, text = naive_option_scores(model, tokenizer, question, choices)
        assert got.by("cloze")[i] == max(range(len(choices)), key=whole.__getitem__)
        assert got.by("option_text")[i] == max(range(len(choices)), key=text.__getitem__)
        assert got.scores["option_text"][i] == pytest.approx(text, abs=1e-4)
        gold = records["answer"][i].as_py()
        expected = math.exp(text[gold]) / sum(math.exp(t) for t in text)
        assert gold_probabilities[i] == pytest.approx(expected, abs=1e-4)
    assert got.tokens > sum(len(tokenizer.encode(q)) for q in QUESTIONS)


def test_readouts_do_not_depend_on_the_batch_size(tiny):
    model, tokenizer = tiny
    records = make_records(QUESTIONS)
    one, many = predict(model, tokenizer, records, batch_size=1), predict(model, tokenizer, records, batch_size=7)
    assert [one.by(m) for m in METHODS] == [many.by(m) for m in METHODS]


def test_gold_probability_is_the_softmax_over_the_options_at_the_gold_answer():
    predictions = Predictions({"letter": [[0.0, math.log(3.0)], [1.0, 1.0, 1.0]]}, tokens=0)
    assert predictions.gold_probability("letter", [1, 2]) == pytest.approx([0.75, 1 / 3])
    assert predictions.by("letter") == [1, 0]  # a tie goes to the first option


def test_accuracy_counts_exact_matches():
    records = make_records(QUESTIONS[:4])  # answers 0, 1, 0, 1
    assert accuracy([0, 1, 1, 1], records) == 0.75
