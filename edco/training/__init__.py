"""Fine-tuning one interval: the SFT and GRPO trainers (through TRL) and the rewards GRPO calls."""

from edco.training.rewards import answer_reward, completion_text, extract_choice, no_answer_count
from edco.training.trainers import TRAINERS, sft_dataset, train, train_grpo, train_sft

__all__ = [
    "TRAINERS",
    "answer_reward",
    "completion_text",
    "extract_choice",
    "no_answer_count",
    "sft_dataset",
    "train",
    "train_grpo",
    "train_sft",
]
