from __future__ import annotations

import torch

from edco.data.prompts import LETTERS, chat_prompt
from edco.evaluation.accuracy import accuracy, predict
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
    for i, (question, choices) in enumerate(zip(QUESTIONS, records["choices"].to_pylist())):
        ids = tokenizer(
            chat_prompt(tokenizer, choice(question, choices), "quick"), add_special_tokens=False, return_tensors="pt"
        ).input_ids
        with torch.no_grad():
            last = model(ids).logits[0, -1]
        letter_ids = [tokenizer.convert_tokens_to_ids(letter) for letter in LETTERS[: len(choices)]]
        assert got.letter[i] == int(torch.stack([last[j] for j in letter_ids]).argmax())
        whole, text = naive_option_scores(model, tokenizer, question, choices)
        assert got.cloze[i] == max(range(len(choices)), key=whole.__getitem__)
        assert got.option_text[i] == max(range(len(choices)), key=text.__getitem__)
    assert got.tokens > sum(len(tokenizer.encode(q)) for q in QUESTIONS)


def test_readouts_do_not_depend_on_the_batch_size(tiny):
    model, tokenizer = tiny
    records = make_records(QUESTIONS)
    one, many = predict(model, tokenizer, records, batch_size=1), predict(model, tokenizer, records, batch_size=7)
    assert (one.letter, one.cloze, one.option_text) == (many.letter, many.cloze, many.option_text)


def test_accuracy_counts_exact_matches():
    records = make_records(QUESTIONS[:4])  # answers 0, 1, 0, 1
    assert accuracy([0, 1, 1, 1], records) == 0.75
