"""Fine-tuning one interval's selection with the trainers users already trust: TRL's.

The trainer seam is `TRAINERS[training.method]`, a function
`(model, tokenizer, records, cfg, seed) -> TrainStats`. TRL owns the loop; our code is the
dataset, the reward and the mapping of our config onto TRL's. Each interval trains with a
fresh optimizer under its own seed, so an interval is a self-contained unit that resume can
redo and get the same weights.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa
import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from edco.config.schema import EdcoConfig, TrainingConfig
from edco.data.kinds import kind_of, rows
from edco.data.prompts import sft_examples, trainer_prompt
from edco.evaluation.judge import Judge
from edco.models.compat import CHECKPOINTING
from edco.models.devices import resolve_placement
from edco.progress import Progress
from edco.scoring.losses import answer_losses
from edco.seeds import derive_seed
from edco.training.lm_head import compact_on_cpu
from edco.training.rewards import Reward, reward_columns, reward_function

# TRL 1.16's GRPOTrainer still calls this transformers 5 deprecated name on every run; the
# warning is theirs to fix and says nothing to an edco user.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

# TRL's per-step log keys -> the interval summary's names (metrics view, MLflow).
SUMMARY_KEYS: dict[str, str] = {
    "loss": "train_loss",
    "grad_norm": "grad_norm",
    "reward": "reward_mean",
    "reward_std": "reward_std",
    "frac_reward_zero_std": "frac_reward_zero_std",
    "completions/mean_length": "completion_length",
    "kl": "kl",
    "no_answer_frac": "no_answer_frac",
    "judge_unparsed_frac": "judge_unparsed_frac",
}
STEP_KEYS = ("loss", "learning_rate", "grad_norm", *list(SUMMARY_KEYS)[2:])


@dataclass(frozen=True)
class TrainStats:
    """What an interval's training reports: its step log and the interval means of it."""

    steps: int
    summary: dict[str, float]  # SUMMARY_KEYS' names, each the mean over the interval's steps
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per optimizer step, TRL's names
    sample_gain: dict[str, float] = field(default_factory=dict)  # per record id, when asked: what it taught

    def to_json(self) -> dict[str, Any]:
        return {"steps": self.steps, "summary": self.summary, "history": self.history, "sample_gain": self.sample_gain}


class IntervalTrainer(Protocol):
    def __call__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        records: pa.Table,
        cfg: TrainingConfig,
        seed: int,
        *,
        progress: Progress | None = None,
        autocast: torch.dtype | None = None,
        measure_gain: bool = False,
        reward: Reward | None = None,
    ) -> TrainStats:
        """Train `model` in place on `records`. With `measure_gain`, also report per record how
        much it taught (SEC's bandit reward): the drop of its answer loss under SFT, its mean
        |advantage| under GRPO. `reward` is GRPO's reward function (SFT reads none)."""


def sft_dataset(tokenizer: PreTrainedTokenizerBase, records: pa.Table) -> Dataset:
    """Prompt-completion records, pre-tokenized so that TRL trains on the very tokens the
    scorer measured (its own tokenization would add a second BOS under some chat templates);
    `completion_mask` keeps the loss on the answer only."""
    examples = sft_examples(tokenizer, records)
    return Dataset.from_dict(
        {
            "input_ids": [prompt + completion for prompt, completion in examples],
            "completion_mask": [[0] * len(prompt) + [1] * len(completion) for prompt, completion in examples],
        }
    )


def grpo_dataset(tokenizer: PreTrainedTokenizerBase, records: pa.Table) -> Dataset:
    """Prompts plus the columns a reward reads (`edco.training.rewards.reward_columns`)."""
    prompts = [trainer_prompt(tokenizer, record, "quick") for record in rows(records)]
    return Dataset.from_dict({"prompt": prompts, **reward_columns(records)})


def train_sft(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    cfg: TrainingConfig,
    seed: int,
    *,
    progress: Progress | None = None,
    autocast: torch.dtype | None = None,
    measure_gain: bool = False,
    reward: Reward | None = None,
) -> TrainStats:
    """SFTTrainer on the selection, loss on the answer tokens only (the gold reply, the reference, or
    the last assistant turn)."""
    from trl import SFTConfig, SFTTrainer

    compact_on_cpu()

    before = answer_losses(model, tokenizer, records, cfg.batch_size)[0] if measure_gain else []
    with tempfile.TemporaryDirectory(prefix="edco-sft-") as out:
        args = SFTConfig(
            **_trainer_args(model, cfg, seed, out, autocast),
            per_device_train_batch_size=cfg.batch_size // world_size(),
            num_train_epochs=cfg.epochs,
            completion_only_loss=True,
            max_length=None,  # too-long records are rejected before interval 0, never truncated
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=sft_dataset(tokenizer, records),
            processing_class=tokenizer,
            callbacks=_callbacks(progress),
        )
        _train(trainer)
    gain = {}
    if measure_gain:
        after = answer_losses(model, tokenizer, records, cfg.batch_size)[0]
        gain = dict(zip(records["id"].to_pylist(), (b - a for b, a in zip(before, after))))
    return _stats(trainer.state.log_history, model, gain)


def train_grpo(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    cfg: TrainingConfig,
    seed: int,
    *,
    progress: Progress | None = None,
    autocast: torch.dtype | None = None,
    measure_gain: bool = False,
    reward: Reward | None = None,
) -> TrainStats:
    """GRPOTrainer on the selection's prompts with `reward` (by default the one `training.reward`
    names for these records); `grpo.iterations` steps.

    A step samples `num_generations` completions for each of `batch_size` prompts. The KL
    reference is the run's base model in every interval (TRL builds it from the model's
    `_name_or_path`, which `load_model` points at the base; under LoRA it is the model with
    the adapters disabled), as in one continuous GRPO run.
    """
    from trl import GRPOConfig, GRPOTrainer

    compact_on_cpu()

    g = cfg.grpo
    with tempfile.TemporaryDirectory(prefix="edco-grpo-") as out:
        args = GRPOConfig(
            **_trainer_args(model, cfg, seed, out, autocast),
            per_device_train_batch_size=cfg.batch_size // world_size() * g.num_generations,
            max_steps=g.iterations,
            num_generations=g.num_generations,
            beta=g.beta,
            epsilon=g.epsilon,
            max_completion_length=g.max_completion_length,
            temperature=g.temperature,
            loss_type=g.loss_type,
        )
        recorded = _RecordedReward(reward or reward_function(cfg, kind_of(records)))
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[recorded],
            args=args,
            train_dataset=grpo_dataset(tokenizer, records),
            processing_class=tokenizer,
            callbacks=_callbacks(progress),
        )
        _train(trainer)
    return _stats(
        trainer.state.log_history, model, recorded.mean_abs_advantage(g.num_generations) if measure_gain else {}
    )


class _RecordedReward:
    """A reward function, remembering which prompt each reward went to, so that each prompt's
    advantages can be recomputed after training exactly as TRL forms them (group mean and
    standard deviation over the `num_generations` consecutive completions of one prompt)."""

    def __init__(self, reward: Reward) -> None:
        self.reward = reward
        self.__name__ = getattr(reward, "__name__", "reward")  # TRL names the reward's metrics after it
        self.calls: list[tuple[list[str], list[float]]] = []

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float]:
        rewards = self.reward(prompts=prompts, completions=completions, **columns)
        self.calls.append((list(columns["id"]), rewards))
        return rewards

    def mean_abs_advantage(self, group: int) -> dict[str, float]:
        per_id: dict[str, list[float]] = {}
        for ids, rewards in self.calls:
            values = torch.tensor(rewards, dtype=torch.float64).view(-1, group)
            advantages = (values - values.mean(dim=1, keepdim=True)) / (values.std(dim=1, keepdim=True) + 1e-4)
            for row, sample in enumerate(ids[::group]):
                per_id.setdefault(sample, []).extend(advantages[row].abs().tolist())
        return {sample: _mean(values) for sample, values in per_id.items()}


TRAINERS: dict[str, IntervalTrainer] = {"sft": train_sft, "grpo": train_grpo}


def train(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    cfg: EdcoConfig,
    interval: int,
    *,
    progress: Progress | None = None,
    judge: Judge | None = None,
) -> TrainStats:
    """The interval's trainer call as a run makes it: its method, derived seed, the precision
    `cfg.model` asks for, the reward, and SEC's per-record gain. One place, so that a benchmark
    replaying a stage repeats exactly the stage's computation."""
    grpo = cfg.training.method == "grpo"
    return TRAINERS[cfg.training.method](
        model,
        tokenizer,
        records,
        cfg.training,
        derive_seed(cfg.seed, interval, "train"),
        progress=progress,
        autocast=resolve_placement(cfg.model).autocast,
        measure_gain=cfg.selection.strategy == "sec",
        reward=reward_function(cfg.training, kind_of(records), judge) if grpo else None,
    )


def world_size() -> int:
    """Ranks training together (torchrun and accelerate set WORLD_SIZE); 1 in a plain process. The
    configured batch is the global one: each rank takes its share, so a step sees as many samples
    on N processes as on one."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _trainer_args(
    model: PreTrainedModel,
    cfg: TrainingConfig,
    seed: int,
    out: str,
    autocast: torch.dtype | None,
) -> dict[str, Any]:
    """Our config in TrainingArguments' terms; precision follows the weights the model was loaded
    with, or the autocast asked for over float32 masters (`Placement.autocast`)."""
    cosine = cfg.lr_schedule == "cosine"
    return {
        "output_dir": out,
        "seed": seed % 2**32,  # transformers seeds numpy too, which takes 32 bits
        "data_seed": seed % 2**32,
        "learning_rate": cfg.lr,
        "lr_scheduler_type": "cosine" if cosine else "constant",
        "warmup_steps": cfg.warmup_ratio if cosine else 0.0,  # a float below 1 is a share of the steps
        "weight_decay": cfg.weight_decay,
        "max_grad_norm": cfg.max_grad_norm,
        "gradient_accumulation_steps": cfg.grad_accum_steps,
        CHECKPOINTING: cfg.gradient_checkpointing,  # TRL's configs default it to on
        "bf16": torch.bfloat16 in (model.dtype, autocast),
        "fp16": autocast == torch.float16,
        "use_cpu": model.device.type == "cpu",
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",  # the curriculum logs each step into its own MLflow run (tracking/)
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


class _ProgressCallback(TrainerCallback):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003 - TrainerCallback's signature
        self.progress(state.global_step, state.max_steps)


def _callbacks(progress: Progress | None) -> list[TrainerCallback]:
    return [_ProgressCallback(progress)] if progress else []


def _train(trainer: Any) -> None:
    """Train without the stdout printer Trainer adds when tqdm is off: the stage logs progress itself."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    trainer.train()


def _stats(
    log_history: list[dict[str, Any]], model: PreTrainedModel, gain: dict[str, float] | None = None
) -> TrainStats:
    model.eval()
    history = [
        {"step": entry["step"], **{key: float(entry[key]) for key in STEP_KEYS if entry.get(key) is not None}}
        for entry in log_history
        if "loss" in entry
    ]
    summary = {
        name: _mean([entry[key] for entry in history if key in entry])
        for key, name in SUMMARY_KEYS.items()
        if any(key in entry for entry in history)
    }
    summary["train_tokens"] = max(
        (entry.get("num_tokens", 0) for entry in log_history), default=0
    )  # TRL counts cumulatively
    return TrainStats(steps=len(history), summary=summary, history=history, sample_gain=gain or {})


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan
