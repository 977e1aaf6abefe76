"""Training on free-form records: the SFT completion mask, the free-form GRPO rewards, and a user's
reward function checked before any training."""

from __future__ import annotations

import math

import pytest

from edco.config.schema import ModelConfig, TrainingConfig
from edco.data.kinds import rows
from edco.data.prompts import chat_prompt
from edco.errors import ConfigError
from edco.models.loading import load_model, load_tokenizer
from edco.training.rewards import check_reward, overlap_reward, reward_function
from edco.training.trainers import sft_dataset, train_grpo, train_sft
from tests.helpers import QUESTIONS, make_free_form_records, make_records

USER = "tests.training.user_rewards"


@pytest.fixture
def fresh(tiny_model_dir):
    cfg = ModelConfig(name=str(tiny_model_dir))
    return load_model(cfg, training=True), load_tokenizer(cfg)


@pytest.mark.parametrize("kind", ["reference", "chat"])
def test_the_completion_mask_covers_exactly_the_reference_or_last_turn(tiny, kind):
    _, tokenizer = tiny
    records = make_free_form_records(kind, QUESTIONS[:3])
    for row, record in zip(sft_dataset(tokenizer, records), rows(records)):
        prompt = tokenizer.encode(chat_prompt(tokenizer, record, "quick"), add_special_tokens=False)
        reply = record["reference"] if kind == "reference" else record["messages"][-1]["content"]
        target = tokenizer.encode(reply + tokenizer.eos_token, add_special_tokens=False)
        assert row["input_ids"] == prompt + target
        assert row["completion_mask"] == [0] * len(prompt) + [1] * len(target)


def test_sft_on_reference_records_lowers_their_loss(fresh):
    from edco.scoring.losses import answer_losses

    model, tokenizer = fresh
    records = make_free_form_records("reference", QUESTIONS)
    before = sum(answer_losses(model, tokenizer, records, 4)[0])
    stats = train_sft(model, tokenizer, records, TrainingConfig(batch_size=4, lr=1e-2, epochs=3), seed=1)
    assert stats.steps == 6 and math.isfinite(stats.summary["train_loss"])
    assert sum(answer_losses(model, tokenizer, records, 4)[0]) < before


def test_the_overlap_reward_scores_each_completion_against_its_answers():
    reward = overlap_reward("token_f1")
    completions = [[{"role": "assistant", "content": "a fiber cut"}], "fan failure now", "nothing"]
    refs = [["A fiber cut."], ["fan failure"], ["fan failure"]]
    assert reward(prompts=[""] * 3, completions=completions, references=refs) == [1.0, pytest.approx(0.8), 0.0]
    assert reward.__name__ == "token_f1_reward"


def test_the_default_reward_follows_the_kind_and_a_wrong_one_is_refused(tiny):
    assert reward_function(TrainingConfig(), "choice").__name__ == "answer_reward"
    assert reward_function(TrainingConfig(), "chat").__name__ == "rouge_l_reward"
    with pytest.raises(ConfigError, match="training.reward 'choice' does not apply to reference records"):
        reward_function(TrainingConfig(reward="choice"), "reference")
    with pytest.raises(ConfigError, match="training.reward 'overlap' does not apply to choice records"):
        check_reward(TrainingConfig(reward="overlap"), make_records(QUESTIONS[:2]), tiny[1])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_such_function", "cannot import it (AttributeError"),
        ("NOT_A_FUNCTION", "NOT_A_FUNCTION is a int, not a function"),
        ("too_few", "returned 1 values for 2 completions"),
        ("words", "returned non-numbers: ['good', 'good']"),
        ("broken", "raised KeyError: 'answer'"),
    ],
)
def test_a_user_reward_that_cannot_work_is_refused_before_training(tiny, name, message):
    records = make_free_form_records("reference", QUESTIONS[:3])
    with pytest.raises(ConfigError) as error:
        check_reward(TrainingConfig(method="grpo", reward=f"{USER}:{name}"), records, tiny[1])
    assert message in str(error.value)
    with pytest.raises(ConfigError, match="cannot import it"):
        check_reward(TrainingConfig(reward="tests.training.no_such_module:f"), records, tiny[1])


def test_grpo_trains_free_form_records_with_a_user_reward(fresh):
    model, tokenizer = fresh
    records = make_free_form_records("chat", QUESTIONS[:4])
    cfg = TrainingConfig(
        method="grpo",
        reward=f"{USER}:length_reward",
        batch_size=2,
        lr=1e-3,
        grpo={"num_generations": 2, "iterations": 2, "max_completion_length": 4},
    )
    check_reward(cfg, records, tokenizer)
    stats = train_grpo(model, tokenizer, records, cfg, seed=0)
    assert stats.steps == 2
    assert stats.summary["reward_mean"] == pytest.approx(1.0), "4-token completions are shorter than every reference"
    assert "no_answer_frac" not in stats.summary
