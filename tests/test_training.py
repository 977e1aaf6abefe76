from __future__ import annotations

import math

import torch

from edco.config import ModelConfig, TrainingConfig
from edco.models import load_model, load_tokenizer
from edco.prompts import answer_text, chat_prompt
from edco.training import IGNORE, sft, sft_examples
from tests.conftest import QUESTIONS, make_records


def test_labels_cover_exactly_the_answer_tokens(tiny):
    _, tokenizer = tiny
    records = make_records(QUESTIONS[:2])
    for (ids, labels), choices, answer, question in zip(
        sft_examples(tokenizer, records), records["choices"].to_pylist(), records["answer"].to_pylist(), QUESTIONS
    ):
        target = tokenizer.encode(answer_text(tokenizer, choices, answer), add_special_tokens=False)
        prompt = tokenizer.encode(chat_prompt(tokenizer, question, choices, "quick"), add_special_tokens=False)
        assert ids == prompt + target
        assert labels == [IGNORE] * len(prompt) + target


def test_sft_step_changes_parameters_and_reports_finite_loss(tiny_model_dir):
    cfg = ModelConfig(name=str(tiny_model_dir))
    model, tokenizer = load_model(cfg), load_tokenizer(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = sft(model, tokenizer, make_records(QUESTIONS), TrainingConfig(batch_size=4, lr=1e-2), seed=1)
    assert stats.steps == 2 and math.isfinite(stats.loss) and stats.grad_norm > 0
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) == len(before)


def test_sft_loss_equals_manual_answer_token_cross_entropy(tiny_model_dir):
    cfg = ModelConfig(name=str(tiny_model_dir))
    model, tokenizer = load_model(cfg), load_tokenizer(cfg)
    records = make_records(QUESTIONS[:1])
    (ids, labels), = sft_examples(tokenizer, records)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1]
    targets = torch.tensor(labels[1:])
    keep = targets != IGNORE
    manual = torch.nn.functional.cross_entropy(logits[keep], targets[keep]).item()
    stats = sft(model, tokenizer, records, TrainingConfig(batch_size=1, lr=1e-9), seed=0)
    assert abs(stats.loss - manual) < 1e-5


def test_lora_trains_only_adapters(tiny_model_dir, tmp_path):
    from edco.config import LoraConfig
    from edco.models import save_weights

    cfg = ModelConfig(name=str(tiny_model_dir), lora=LoraConfig(r=2, alpha=4))
    model, tokenizer = load_model(cfg), load_tokenizer(cfg)
    stats = sft(model, tokenizer, make_records(QUESTIONS[:4]), TrainingConfig(batch_size=2, lr=1e-2), seed=0)
    assert math.isfinite(stats.loss)
    save_weights(model, tmp_path / "adapter.safetensors")
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "adapter.safetensors"))
    assert saved and all("lora_" in k for k in saved)
    reloaded = load_model(cfg, tmp_path / "adapter.safetensors")
    for key, value in saved.items():
        match = [v for k, v in reloaded.state_dict().items() if k.replace(".default", "") == key]
        assert match and torch.equal(match[0], value)
