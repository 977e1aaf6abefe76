"""Fine-tuning one interval: the SFT and GRPO trainers (through TRL) and the rewards GRPO calls."""

from edco.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "rewards": ["answer_reward", "completion_text", "extract_choice", "no_answer_count"],
        "trainers": ["TRAINERS", "sft_dataset", "train", "train_grpo", "train_sft", "world_size"],
    },
)
