"""The TRL trainers behind the trainer seam, on the tiny local model."""

from __future__ import annotations

import math

import pytest
import torch
from trl.trainer import utils as trl_utils

from edco.config.schema import LoraConfig, ModelConfig, TrainingConfig
from edco.data.prompts import answer_text, chat_prompt
from edco.models.devices import resolve_placement
from edco.models.loading import load_model, load_tokenizer, save_checkpoint
from edco.training.lm_head import compact_on_cpu
from edco.training.trainers import TRAINERS, sft_dataset, train_grpo, train_sft
from tests.helpers import QUESTIONS, choice, make_records


@pytest.fixture
def fresh(tiny_model_dir):
    cfg = ModelConfig(name=str(tiny_model_dir))
    return load_model(cfg, training=True), load_tokenizer(cfg)


def test_the_seam_maps_each_method_to_a_trl_trainer():
    assert TRAINERS == {"sft": train_sft, "grpo": train_grpo}


def test_completion_mask_covers_exactly_the_answer_tokens(tiny):
    _, tokenizer = tiny
    records = make_records(QUESTIONS[:2])
    dataset = sft_dataset(tokenizer, records)
    for row, choices, answer, question in zip(
        dataset, records["choices"].to_pylist(), records["answer"].to_pylist(), QUESTIONS
    ):
        target = tokenizer.encode(answer_text(tokenizer, choices, answer), add_special_tokens=False)
        prompt = tokenizer.encode(chat_prompt(tokenizer, choice(question, choices), "quick"), add_special_tokens=False)
        assert row["input_ids"] == prompt + target
        assert row["completion_mask"] == [0] * len(prompt) + [1] * len(target)


def test_sft_step_changes_parameters_and_reports_finite_loss(fresh):
    model, tokenizer = fresh
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = train_sft(model, tokenizer, make_records(QUESTIONS), TrainingConfig(batch_size=4, lr=1e-2), seed=1)
    assert stats.steps == 2 and math.isfinite(stats.summary["train_loss"]) and stats.summary["grad_norm"] > 0
    assert [entry["step"] for entry in stats.history] == [1, 2]
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) == len(before)
    assert not model.training


def test_sft_loss_equals_manual_answer_token_cross_entropy(fresh):
    model, tokenizer = fresh
    records = make_records(QUESTIONS[:1])
    row = sft_dataset(tokenizer, records)[0]
    with torch.no_grad():
        logits = model(torch.tensor([row["input_ids"]])).logits[0, :-1]
    targets = torch.tensor(row["input_ids"][1:])
    keep = torch.tensor(row["completion_mask"][1:]).bool()
    manual = torch.nn.functional.cross_entropy(logits[keep], targets[keep]).item()
    stats = train_sft(model, tokenizer, records, TrainingConfig(batch_size=1, lr=1e-9), seed=0)
    assert stats.history[0]["loss"] == pytest.approx(manual, abs=1e-5)


def test_sft_on_the_cpu_scores_only_the_answer_positions_with_the_same_gradient(fresh):
    """TRL compacts the loss head to the labelled positions on the CPU too (edco's switch is
    found in the installed TRL), and the gradient it trains on is the full-logits one."""
    model, tokenizer = fresh
    records = make_records(QUESTIONS[:2])
    batch = sft_dataset(tokenizer, records)
    width = max(len(row["input_ids"]) for row in batch)
    ids = torch.tensor([row["input_ids"] + [0] * (width - len(row["input_ids"])) for row in batch])
    keep = torch.tensor([row["completion_mask"] + [0] * (width - len(row["completion_mask"])) for row in batch])
    logits = model(ids).logits[:, :-1]
    targets, labelled = ids[:, 1:], keep[:, 1:].bool()
    torch.nn.functional.cross_entropy(logits[labelled], targets[labelled]).backward()
    manual = torch.norm(torch.stack([p.grad.norm() for p in model.parameters()])).item()
    model.zero_grad(set_to_none=True)
    stats = train_sft(model, tokenizer, records, TrainingConfig(batch_size=2, lr=1e-9), seed=0)
    assert compact_on_cpu()
    assert trl_utils._use_triton(torch.device("cpu"))
    assert stats.history[0]["grad_norm"] == pytest.approx(manual, rel=1e-4)


def test_same_seed_trains_bit_identical_weights(tiny_model_dir):
    cfg = ModelConfig(name=str(tiny_model_dir))
    states = []
    for _ in range(2):
        model = load_model(cfg, training=True)
        train_sft(model, load_tokenizer(cfg), make_records(QUESTIONS), TrainingConfig(batch_size=3, lr=1e-3), seed=5)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_gradient_accumulation_makes_the_effective_batch(fresh):
    model, tokenizer = fresh
    cfg = TrainingConfig(batch_size=2, grad_accum_steps=2, epochs=2, lr=1e-3)
    stats = train_sft(model, tokenizer, make_records(QUESTIONS[:6]), cfg, seed=0)
    assert stats.steps == 4  # 6 samples / (2 x 2) per optimizer step = 2 steps per epoch, 2 epochs


def test_cosine_schedule_warms_up_then_decays(fresh):
    model, tokenizer = fresh
    cfg = TrainingConfig(batch_size=1, lr=1e-3, lr_schedule="cosine", warmup_ratio=0.25)
    stats = train_sft(model, tokenizer, make_records(QUESTIONS[:4]), cfg, seed=0)
    rates = [entry["learning_rate"] for entry in stats.history]
    # the rate each of the 4 steps used: 1 warmup step from 0, then cosine from the peak over the 3 others
    expected = [0.0] + [1e-3 * 0.5 * (1 + math.cos(math.pi * k / 3)) for k in range(3)]
    assert rates == pytest.approx(expected, rel=1e-6)


def test_gradient_checkpointing_gives_the_same_loss(tiny_model_dir):
    cfg = ModelConfig(name=str(tiny_model_dir))
    losses = []
    for checkpointing in (False, True):
        model, tokenizer = load_model(cfg, training=True), load_tokenizer(cfg)
        train = TrainingConfig(batch_size=4, lr=1e-3, gradient_checkpointing=checkpointing)
        losses.append([e["loss"] for e in train_sft(model, tokenizer, make_records(QUESTIONS), train, seed=0).history])
    assert losses[1] == pytest.approx(losses[0], abs=1e-5)


def test_bf16_training_runs_on_the_cpu(tiny_model_dir):
    cfg = ModelConfig(name=str(tiny_model_dir), device="cpu", dtype="bfloat16")
    model, tokenizer = load_model(cfg, training=True), load_tokenizer(cfg)
    assert model.dtype == torch.bfloat16
    stats = train_sft(model, tokenizer, make_records(QUESTIONS[:4]), TrainingConfig(batch_size=2, lr=1e-3), seed=0)
    assert math.isfinite(stats.summary["train_loss"]) and model.dtype == torch.bfloat16


def test_float16_trains_float32_masters(tiny_model_dir):
    cfg = ModelConfig(name=str(tiny_model_dir), device="cpu", dtype="float16")
    assert load_model(cfg).dtype == torch.float16
    assert load_model(cfg, training=True).dtype == torch.float32


@pytest.mark.parametrize("method", ["sft", "grpo"])
def test_mixed_precision_trains_float32_masters_under_bfloat16_autocast(tiny_model_dir, method):
    cfg = ModelConfig(name=str(tiny_model_dir), device="cpu", dtype="bfloat16", train_dtype="float32")
    assert load_model(cfg).dtype == torch.bfloat16  # what scoring and evaluation load
    model, tokenizer = load_model(cfg, training=True), load_tokenizer(cfg)
    before = model.lm_head.weight.detach().clone()
    computed_in = set()
    model.model.layers[0].mlp.down_proj.register_forward_hook(lambda module, args, out: computed_in.add(out.dtype))
    train = TrainingConfig(
        method=method, batch_size=2, lr=1e-3, grpo={"num_generations": 2, "iterations": 1, "max_completion_length": 4}
    )
    stats = TRAINERS[method](
        model, tokenizer, make_records(QUESTIONS[:4]), train, seed=0, autocast=resolve_placement(cfg).autocast
    )
    assert math.isfinite(stats.summary["train_loss"])
    assert computed_in == {torch.bfloat16}
    assert model.dtype == torch.float32
    # the tiny model's GRPO rewards are flat (zero advantage, no update); SFT's loss always moves it
    assert method == "grpo" or not torch.equal(model.lm_head.weight, before)


def test_lora_trains_only_adapters_and_saves_a_peft_folder(tiny_model_dir, tmp_path):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    cfg = ModelConfig(name=str(tiny_model_dir), lora=LoraConfig(r=2, alpha=4))
    model, tokenizer = load_model(cfg, training=True), load_tokenizer(cfg)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if "lora_" not in k}
    stats = train_sft(model, tokenizer, make_records(QUESTIONS[:4]), TrainingConfig(batch_size=2, lr=1e-2), seed=0)
    assert math.isfinite(stats.summary["train_loss"])
    assert all(torch.equal(model.state_dict()[k], v) for k, v in frozen.items())
    save_checkpoint(model, tokenizer, tmp_path / "checkpoint")
    saved = load_file(str(tmp_path / "checkpoint" / "adapter_model.safetensors"))
    assert saved and all("lora_" in k for k in saved)
    plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tmp_path / "checkpoint")
    ours = load_model(cfg, tmp_path / "checkpoint")
    ids = torch.tensor([tokenizer.encode(QUESTIONS[0])])
    with torch.no_grad():
        assert torch.equal(plain(ids).logits, ours(ids).logits)


def test_grpo_trains_with_the_answer_reward_and_reports_its_diagnostics(fresh):
    model, tokenizer = fresh
    cfg = TrainingConfig(
        method="grpo", batch_size=2, lr=1e-3, grpo={"num_generations": 2, "iterations": 2, "max_completion_length": 4}
    )
    stats = train_grpo(model, tokenizer, make_records(QUESTIONS[:4]), cfg, seed=0)
    assert stats.steps == 2
    assert {
        "reward_mean",
        "reward_std",
        "frac_reward_zero_std",
        "completion_length",
        "kl",
        "grad_norm",
        "no_answer_frac",
    } <= set(stats.summary)
    assert 0.0 <= stats.summary["reward_mean"] <= 1.0 and 0.0 <= stats.summary["frac_reward_zero_std"] <= 1.0
    assert 1.0 <= stats.summary["completion_length"] <= 4.0
    assert all({"loss", "learning_rate", "reward", "kl"} <= set(entry) for entry in stats.history)


def test_grpo_kl_reference_is_the_base_model(tiny_model_dir, tmp_path):
    """Every interval's KL is measured against the run's base model, as in one continuous GRPO run."""
    cfg = ModelConfig(name=str(tiny_model_dir))
    model, tokenizer = load_model(cfg, training=True), load_tokenizer(cfg)
    save_checkpoint(model, tokenizer, tmp_path / "checkpoint")
    assert load_model(cfg, tmp_path / "checkpoint").config._name_or_path == str(tiny_model_dir.resolve())
