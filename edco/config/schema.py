"""The one typed configuration of a curriculum run.

Loaded from YAML and validated here, at the edge; everything below the CLI receives these
objects (or the sub-model it needs), never a dict. Unknown keys are rejected so that a typo
cannot silently fall back to a default during a multi-hour run.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edco.errors import ConfigError


def _count_or_auto(v: int | str) -> int | str:
    if isinstance(v, int) and v < 1:
        raise ValueError("must be a positive integer or 'auto'")
    return v


CountOrAuto = Annotated[int | Literal["auto"], AfterValidator(_count_or_auto)]
"""A count of at least 1, or 'auto' for one the run works out (top_n, prefix_tokens)."""

DEFAULT_MODEL = "smollm2-135m-instruct"
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoraConfig(_Section):
    """Low-rank adapters through peft; only the adapters are trained and checkpointed."""

    r: int = Field(8, ge=1, description="Adapter rank.")
    alpha: int = Field(16, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the adapter input.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "v_proj"], description="Module names that get adapters."
    )


class ModelConfig(_Section):
    """The model being fine-tuned, where it runs and in which precision."""

    name: str = Field(
        DEFAULT_MODEL,
        description="'smollm2-135m-instruct' (embedded, offline), a local model folder, or a Hugging Face id.",
    )
    lora: LoraConfig | None = Field(None, description="null for full fine-tuning, or LoRA settings.")
    max_length: int = Field(
        512, ge=16, description="Longest prompt+answer in tokens; longer records are rejected before interval 0."
    )
    trust_remote_code: bool = Field(False, description="Allow model repositories to run their own code.")
    device: str = Field(
        "auto", description="'auto' (a GPU when one is visible, else the CPU), 'cpu', 'cuda' or 'cuda:N'."
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="Weights' precision; 'auto' = bfloat16 on a GPU that supports it, else float32. "
        "float16 trains with float32 master weights and float16 autocast.",
    )
    train_dtype: Literal["auto", "float32"] = Field(
        "auto",
        description="Precision of the weights training updates; 'auto' = model.dtype (float32 for float16). "
        "'float32' with a half model.dtype is mixed precision: float32 master weights trained under autocast "
        "in model.dtype, while scoring and evaluation run in model.dtype (on CPUs with AMX, bfloat16 "
        "scoring and evaluation with float32 training; see docs/BENCHMARKS.md).",
    )

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        if not _DEVICE.match(v):
            raise ValueError("must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
        return v


class ColumnMap(_Section):
    """Where the record contract's fields live in a user's file."""

    id: str | None = Field("id", description="Column with a unique id; null derives ids from the row number.")
    question: str = Field("question", description="Column with the question text.")
    choices: str | list[str] = Field("choices", description="A list/dict column, or a list of columns, one per option.")
    answer: str = Field("answer", description="Column with the 0-based index or the letter of the answer.")
    category: str | None = Field("category", description="Optional column with the sample's category.")
    context: str | None = Field(
        "context", description="Reference records: optional column with context shown after the question."
    )
    system: str | None = Field("system", description="Reference records: optional column with a system prompt.")
    reference: str = Field("reference", description="Reference records: column with the answer to learn.")
    references: str | None = Field(
        "references", description="Reference records: optional column with a list of other acceptable answers."
    )
    messages: str | list[str] = Field(
        "messages",
        description="Chat records: a column with a list of {role, content} turns (or ShareGPT's {from, value}), "
        "or several such columns joined in order (TRL's conversational prompt + completion).",
    )


class DataConfig(_Section):
    """The pool the curriculum selects from and the held-out set it is judged on."""

    kind: Literal["auto", "choice", "reference", "chat"] = Field(
        "auto",
        description="Record kind: 'choice' (question, options, answer), 'reference' (question -> reference answer), "
        "'chat' (a conversation ending in the assistant's turn); 'auto' infers it from the columns, and loads "
        "Alpaca, TRL prompt-completion and ShareGPT files with no column map.",
    )
    pool: str = Field("demo", description="'demo', a .jsonl/.json/.csv/.parquet file, or 'hf:<id or dir>[:split]'.")
    eval: str = Field(
        "demo", description="Held-out set, same forms as `pool`; must share no id or question with the pool."
    )
    limit: int | None = Field(None, ge=1, description="Use only the first N pool items.")
    eval_limit: int | None = Field(None, ge=1, description="Use only the first N eval items.")
    seed: int = Field(
        0,
        description="Seed of the built-in demo generator; apart from the run's seed, so that runs with "
        "different seeds (a comparison's members) train and evaluate on the same data.",
    )
    columns: ColumnMap = Field(default_factory=ColumnMap, description="Column mapping for user files.")
    skip_invalid: bool = Field(
        False, description="Quarantine bad rows into the run folder instead of refusing to start."
    )


# The authors' judge (GTS-AIData/EDCO, rule_verifier.py), shown the question too.
DEFAULT_RUBRIC = (
    "You are checking an answer against a reference answer.\n"
    "Question: {question}\n"
    "Reference answer: {reference}\n"
    "Answer to check: {answer}\n"
    "Does the answer's key information match the reference answer, or is it more complete? Differences of "
    "language or format do not count. Reply with one word: yes or no."
)

_PUBLISHED_ESTIMATOR: dict[str, Any] = {
    "mode": "prefix",
    "prompt": "published",
    "max_new_tokens": 128,
    "prefix_tokens": 128,
    "temperature": 0.7,
    "top_p": 0.7,
    "top_logprobs": 20,
    "aggregate": "top_fraction",
    "top_fraction": 0.2,
    "top_rounding": "floor",
    "unit": "bits",
}


class CalibrationConfig(_Section):
    """`prefix_tokens: auto`: prefix k against full mode on a seeded subset of the pool, once, at interval 0."""

    samples: int = Field(64, ge=3, description="Pool samples scored by every setting (fewer if the pool is smaller).")
    candidates: list[int] = Field(
        default_factory=lambda: [1, 2, 4, 8], min_length=1, description="Prefix lengths tried, smallest first wins."
    )
    spearman: float = Field(0.8, gt=-1.0, le=1.0, description="Least Spearman rho against full mode that k must reach.")

    @field_validator("candidates")
    @classmethod
    def _sorted_positive(cls, v: list[int]) -> list[int]:
        if any(k < 1 for k in v):
            raise ValueError("prefix lengths must be at least 1")
        return sorted(set(v))


class ScoringConfig(_Section):
    """How a sample's uncertainty is measured.

    `estimator: published` fills every knob not set explicitly with the values of the
    authors' released code, so a user can reproduce it and then vary one knob.
    """

    estimator: Literal["edco", "published"] = Field("edco", description="'published' presets the knobs below.")
    mode: Literal["prefix", "full"] = Field(
        "prefix", description="'prefix': first prefix_tokens of a quick answer; 'full': the whole generated answer."
    )
    prompt: Literal["quick", "reasoning", "published"] | None = Field(
        None, description="Instruction; null picks 'quick' for prefix mode and 'reasoning' for full mode."
    )
    prefix_tokens: CountOrAuto = Field(
        8,
        description="Generated tokens whose entropy is averaged in prefix mode; 'auto': the smallest k whose "
        "ranking agrees with full mode on a seeded subset at interval 0 (see `calibration`), else full mode.",
    )
    calibration: CalibrationConfig = Field(
        default_factory=CalibrationConfig, description="How `prefix_tokens: auto` picks k."
    )
    max_new_tokens: int = Field(64, ge=1, description="Generation budget in full mode.")
    batch_size: int = Field(8, ge=1, description="Prompts per generate() call.")
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy; >0 samples (seeded per interval).")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass when temperature > 0.")
    top_logprobs: int | None = Field(
        None, ge=2, description="null: entropy of the full distribution; K: of the renormalised top-K."
    )
    aggregate: Literal["mean", "top_fraction"] = Field(
        "mean", description="'mean' of per-token entropies, or mean of the highest `top_fraction` of them."
    )
    top_fraction: float = Field(0.2, gt=0.0, le=1.0, description="Share of tokens kept by aggregate=top_fraction.")
    top_rounding: Literal["ceil", "floor"] = Field(
        "ceil",
        description="Tokens kept by aggregate=top_fraction: 'ceil' = ceil(f*T); 'floor' = max(1, int(f*T)), "
        "the authors' code (the published preset).",
    )
    unit: Literal["nats", "bits"] = Field("nats", description="Logarithm base of the entropy.")
    rescore_fraction: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="After interval 0: seeded share of the pool scored again; the samples near "
        "the last selection boundary are scored too (`rescore_margin`), the rest keep their last score.",
    )
    rescore_margin: float = Field(
        0.5,
        ge=0.0,
        description="With rescore_fraction < 1 or a plateau: the last selection and the next "
        "margin x N samples by last rank are always scored again (the samples whose scores moved, or could flip).",
    )
    plateau_spearman: float | None = Field(
        None,
        gt=-1.0,
        le=1.0,
        description="Skip the seeded share when the scores have settled: if the last "
        "interval's re-scored, untrained samples ranked with at least this Spearman rho against their scores "
        "before it, only the boundary samples are scored. null: never skip.",
    )

    engine: Literal["hf", "vllm"] = Field(
        "hf",
        description="What generates the entropy scorer's answers: 'hf' (transformers) or 'vllm' (the published "
        "estimator as its authors run it; prefix mode with top_logprobs set; needs vLLM, see `make vllm-env`).",
    )
    vllm_kv_cache_gib: float = Field(
        4.0, gt=0, description="engine 'vllm' on a CPU: the KV cache's memory (vLLM's default takes most of the RAM)."
    )
    backend: Literal["local", "ray"] = Field(
        "local",
        description="Where the entropy scorer runs: 'local' (the stage's process) or 'ray' (`workers` scorer "
        "actors on a Ray cluster, see `ray`; one GPU each on GPUs). Each batch samples under its own seed on both.",
    )
    workers: int = Field(2, ge=1, description="backend 'ray': scorer actors, each loading the model once.")
    threads: int | None = Field(
        None,
        ge=1,
        description="Torch threads of each scorer on CPUs: the stage's (local) or each actor's (ray); null: "
        "torch's default locally, 1 per Ray actor. Scores are bit-identical across backends at equal threads.",
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("estimator") == "published":
            return {**_PUBLISHED_ESTIMATOR, **data}
        return data

    @model_validator(mode="after")
    def _vllm_estimator(self) -> ScoringConfig:
        if self.engine == "vllm":
            if self.mode != "prefix" or self.top_logprobs is None:
                raise ValueError(
                    "scoring.engine 'vllm' computes the top-K estimator of prefix mode: set mode 'prefix' and "
                    "top_logprobs (or estimator 'published'); full-vocabulary entropy stays on engine 'hf'"
                )
            if self.backend != "local":
                raise ValueError("scoring.engine 'vllm' runs in the stage's process: use backend 'local' with it")
        return self

    @property
    def partial(self) -> bool:
        """Whether intervals after the first may score less than the whole pool."""
        return self.rescore_fraction < 1.0 or self.plateau_spearman is not None

    @property
    def new_tokens(self) -> int:
        """Tokens generated per sample: only the prefix is needed in prefix mode."""
        if self.mode == "full":
            return self.max_new_tokens
        if self.prefix_tokens == "auto":
            raise ConfigError("scoring.prefix_tokens 'auto' is resolved by calibration before anything is scored")
        return self.prefix_tokens

    @property
    def instruction(self) -> str:
        return self.prompt or ("quick" if self.mode == "prefix" else "reasoning")


class RayConfig(_Section):
    """The Ray cluster `scoring.backend: ray` scores on."""

    address: str | None = Field(
        None,
        description="An existing cluster ('auto', 'ray://head:10001', 'head:6379'); null starts a local Ray for "
        "the stage and stops it after.",
    )
    max_restarts: int = Field(2, ge=0, description="Restarts of a scorer actor whose process died.")
    max_task_retries: int = Field(2, ge=0, description="Retries of a batch whose actor died while scoring it.")


class SecConfig(_Section):
    """Self-Evolving Curriculum: categories are bandit arms, drawn by a Boltzmann policy over their values."""

    alpha: float = Field(0.5, gt=0.0, le=1.0, description="Step size of Q <- (1 - alpha) Q + alpha r.")
    tau: float = Field(0.4, gt=0.0, description="Temperature of the policy pi(c) ~ exp(Q(c) / tau).")


class SelectionConfig(_Section):
    """How each interval's training samples are chosen from the scored pool."""

    strategy: Literal["edco", "random", "static_ppl", "dynamic_ppl", "sec", "length", "ifd"] = Field(
        "edco",
        description="'edco': highest entropy first; 'random'; "
        "'static_ppl': base-model answer perplexity, easy to hard; "
        "'dynamic_ppl': answer perplexity re-scored each interval, highest first; 'sec': category bandit; "
        "'length': longest prompt+answer first; 'ifd': instruction-following difficulty re-scored, highest first.",
    )
    top_n: CountOrAuto = Field(
        "auto", description="Samples per interval; 'auto' = pool size x epochs / intervals (equal training budget)."
    )
    drop_top: float = Field(
        0.0, ge=0.0, lt=1.0, description="Highest-first strategies: share of the top scores left out as outliers."
    )
    window: tuple[float, float] | None = Field(
        None, description="Highest-first strategies: [lo, hi] score quantiles to select from instead of the strict top."
    )
    sec: SecConfig = Field(default_factory=SecConfig, description="Bandit settings for strategy 'sec'.")

    @field_validator("window")
    @classmethod
    def _quantiles(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not 0.0 <= v[0] < v[1] <= 1.0:
            raise ValueError("must be [lo, hi] with 0 <= lo < hi <= 1")
        return v

    @model_validator(mode="after")
    def _one_outlier_rule(self) -> SelectionConfig:
        if self.drop_top and self.window:
            raise ValueError("set either drop_top or window, not both (a window [0, 1 - x] drops the top x)")
        return self


class CurriculumConfig(_Section):
    """How many score -> select -> train -> evaluate rounds."""

    intervals: int = Field(3, ge=1, description="Score -> select -> train -> evaluate rounds.")


class GrpoConfig(_Section):
    """GRPO through TRL's GRPOTrainer; defaults are the published settings (`training.preset: published_grpo`)."""

    num_generations: int = Field(8, ge=2, description="Completions sampled per prompt (the group size).")
    iterations: int = Field(100, ge=1, description="Optimizer steps per interval.")
    beta: float = Field(0.01, ge=0.0, description="KL coefficient against the base model; 0 loads no reference model.")
    epsilon: float = Field(0.2, gt=0.0, description="Clipping range of the policy ratio.")
    max_completion_length: int = Field(64, ge=1, description="Longest sampled completion, in tokens.")
    temperature: float = Field(1.0, gt=0.0, description="Sampling temperature of the completions.")
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = Field(
        "grpo", description="TRL's loss aggregation; 'grpo' normalises per sequence as the GRPO paper does."
    )


_PUBLISHED_GRPO: dict[str, Any] = {"method": "grpo", "lr": 1e-6}
_PUBLISHED_GRPO_KNOBS: dict[str, Any] = {"num_generations": 8, "beta": 0.01, "epsilon": 0.2, "iterations": 100}
_PUBLISHED_GRPO_INTERVALS = 5


class TrainingConfig(_Section):
    """How each interval fine-tunes on its selection, through TRL's trainers."""

    method: Literal["sft", "grpo"] = Field(
        "sft", description="'sft': SFTTrainer, loss on the answer tokens; 'grpo': GRPOTrainer with the answer reward."
    )
    preset: Literal["published_grpo"] | None = Field(
        None,
        description="'published_grpo' fills unset knobs with the published GRPO settings "
        "(group 8, lr 1e-6, KL 0.01, clip 0.2, 100 iterations per interval, 5 intervals).",
    )
    epochs: int = Field(1, ge=1, description="SFT: passes over each interval's selection.")
    batch_size: int = Field(8, ge=1, description="SFT: samples per micro-batch; GRPO: prompts per micro-batch.")
    grad_accum_steps: int = Field(
        1, ge=1, description="Micro-batches per optimizer step (effective batch = batch_size x grad_accum_steps)."
    )
    lr: float = Field(2e-5, gt=0.0, description="AdamW learning rate.")
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant",
        description="'constant', or 'cosine': linear warmup over warmup_ratio of the steps, then cosine decay.",
    )
    warmup_ratio: float = Field(
        0.0, ge=0.0, lt=1.0, description="Share of an interval's steps spent warming up (cosine)."
    )
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0.0, description="Gradient clipping norm.")
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass to save memory."
    )
    grpo: GrpoConfig = Field(default_factory=GrpoConfig, description="GRPO settings (method: grpo).")
    reward: str | None = Field(
        None,
        description="GRPO reward: 'choice' (the gold option named), 'overlap' (ROUGE-L or token F1 against the "
        "reference(s), see `overlap`), 'judge' (the judge's yes/no), or 'package.module:function' (TRL's reward "
        "signature, checked on the pool before training starts); null: 'choice' for choice records, else 'overlap'.",
    )
    overlap: Literal["rouge_l", "token_f1"] = Field(
        "rouge_l", description="The overlap reward's measure (best over the acceptable answers)."
    )
    launcher: Literal["local", "torchrun", "accelerate"] = Field(
        "local",
        description="'local': train in the stage's process; 'torchrun' or 'accelerate': one subprocess per "
        "interval launching `num_processes` ranks (data parallel through TRL); rank 0 writes the checkpoint.",
    )
    num_processes: int = Field(
        1, ge=1, description="Ranks of torchrun / accelerate; batch_size is the global one, split across them."
    )
    accelerate_config: Path | None = Field(
        None, description="launcher 'accelerate': a user's accelerate / DeepSpeed / FSDP config file, passed through."
    )

    @model_validator(mode="after")
    def _batch_splits(self) -> TrainingConfig:
        if self.launcher != "local" and self.batch_size % self.num_processes:
            raise ValueError(
                f"batch_size {self.batch_size} must split evenly over num_processes {self.num_processes} "
                "(it is the global batch)"
            )
        return self

    @field_validator("reward")
    @classmethod
    def _known_reward(cls, v: str | None) -> str | None:
        if v is None or v in ("choice", "overlap", "judge"):
            return v
        module, colon, function = v.partition(":")
        if not (colon and module and function.isidentifier() and all(p.isidentifier() for p in module.split("."))):
            raise ValueError("must be 'choice', 'overlap', 'judge' or 'package.module:function'")
        return v

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") == "published_grpo":
            grpo = data.get("grpo") if isinstance(data.get("grpo"), dict) else {}
            return {**_PUBLISHED_GRPO, **data, "grpo": {**_PUBLISHED_GRPO_KNOBS, **grpo}}
        return data


METRIC_DIRECTIONS: dict[str, Literal["higher", "lower"]] = {
    "accuracy": "higher",
    "reference_nll": "lower",
    "exact_match": "higher",
    "token_f1": "higher",
    "rouge_l": "higher",
    "judge_accuracy": "higher",
}
"""The headline metrics a run can be judged by, and which way is better."""


class JudgeConfig(_Section):
    """An LLM judge behind an OpenAI-compatible chat-completions endpoint (vLLM, TGI, llama.cpp, a provider)."""

    base_url: str = Field(..., description="Endpoint root, e.g. 'http://127.0.0.1:8000/v1'.")
    model: str = Field(..., description="The judge model's name at the endpoint.")
    api_key_env: str | None = Field(
        None,
        description="Environment variable holding the API key (never written into the run); null for "
        "endpoints that need none.",
    )
    rubric: str = Field(
        DEFAULT_RUBRIC,
        description="The judge's instructions; {question}, {answer} and {reference} are filled in. The reply "
        "must be yes or no.",
    )
    concurrency: int = Field(4, ge=1, description="Requests in flight at once.")
    timeout_s: float = Field(60.0, gt=0.0, description="Seconds one request may take.")
    retries: int = Field(3, ge=0, description="Retries of a failed request (timeouts, 5xx), with backoff.")
    max_tokens: int = Field(8, ge=1, description="Longest verdict the judge may write.")

    OPERATIONAL: ClassVar[tuple[str, ...]] = ("base_url", "api_key_env", "concurrency", "timeout_s", "retries")
    """How the judge is reached, which changes no verdict (not part of a run's identity)."""

    @field_validator("rubric")
    @classmethod
    def _fillable(cls, v: str) -> str:
        try:
            v.format(question="q", answer="a", reference="r")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"must use only {{question}}, {{answer}} and {{reference}} ({exc!r})") from None
        return v


class EvaluationConfig(_Section):
    """How the held-out set is measured: for choice records every accuracy readout is recorded and
    `method` is the one reported as `accuracy`; free-form records get the reference NLL and, on
    greedy answers, exact match, token F1, ROUGE-L and the judge's acceptance."""

    method: Literal["letter", "cloze", "option_text"] = Field(
        "letter",
        description="'letter': argmax of the option letters' logits at the first reply token; 'cloze': mean "
        "log-likelihood of each reply 'X. text'; 'option_text': of the option's text given its 'X. '.",
    )
    batch_size: int = Field(8, ge=1, description="Questions per forward pass.")
    metric: str | None = Field(
        None,
        description="The run's headline metric, which the tables, `edco compare`, `keep_checkpoints: best`, "
        "the plots and the report use: 'accuracy' (choice records), 'reference_nll' (lower is better), "
        "'exact_match', 'token_f1', 'rouge_l' or 'judge_accuracy' (free-form); null: 'accuracy' for choice "
        "records, 'reference_nll' for free-form ones.",
    )
    max_new_tokens: int = Field(
        64,
        ge=0,
        description="Free-form records: greedy answer length for exact match, token F1, ROUGE-L and the judge; "
        "0 measures the reference NLL only.",
    )
    every: int = Field(
        1,
        ge=1,
        description="Evaluate after every k-th interval and after the last; the intervals between "
        "record their scoring and training but no held-out accuracy (evaluation is part of a curriculum's "
        "overhead, which a plain training run pays once).",
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str | None) -> str | None:
        if v is not None and v not in METRIC_DIRECTIONS:
            raise ValueError(f"must be one of {', '.join(METRIC_DIRECTIONS)}")
        return v

    def after(self, interval: int, intervals: int) -> bool:
        """Whether interval `interval` (of `intervals`) is evaluated."""
        return (interval + 1) % self.every == 0 or interval == intervals - 1


class DiagnosticsConfig(_Section):
    """Per-interval measurements of the selection that the curriculum does not need to run."""

    gradient_samples: int = Field(
        8, ge=0, description="Selected samples whose answer-loss gradients measure direction consistency; 0 = off."
    )
    gradient_blocks: int = Field(
        2,
        ge=1,
        description="Gradients are taken over the last N transformer blocks' trainable parameters, "
        "which bounds their cost to N blocks' backward pass.",
    )


class StorageConfig(_Section):
    """Where runs are stored and which checkpoints are kept."""

    root: Path = Field(Path("runs"), description="Store folder; each run lives in <root>/<run_name>/.")
    keep_checkpoints: Literal["all", "last", "best"] = Field(
        "all",
        description="Interval checkpoints kept: 'all', 'last', or 'best' (by the headline metric, "
        "`evaluation.metric`, plus the last, which the next interval or a resume starts from).",
    )


class MlflowConfig(_Section):
    """Where runs are tracked."""

    tracking_uri: str | None = Field(None, description="null: a SQLite file inside the store (no server needed).")
    experiment: str = Field("edco", description="MLflow experiment name.")
    log_final_checkpoint: bool = Field(
        True, description="Copy the final checkpoint into the run's MLflow artifacts (a second copy on disk)."
    )


class EdcoConfig(_Section):
    """A whole curriculum run. `configs/demo.yaml` is the annotated example."""

    run_name: str = Field(..., description="Folder name of the run inside the store; letters, digits, . _ -")
    seed: int = Field(0, description="Root of every per-(interval, stage) seed.")
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    diagnostics: DiagnosticsConfig = Field(default_factory=DiagnosticsConfig)
    judge: JudgeConfig | None = Field(
        None, description="An LLM judge for free-form answers (acceptance rate, `training.reward: judge`)."
    )
    ray: RayConfig = Field(default_factory=RayConfig, description="The Ray cluster of `scoring.backend: ray`.")
    storage: StorageConfig = Field(default_factory=StorageConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)

    @model_validator(mode="before")
    @classmethod
    def _preset_intervals(cls, data: Any) -> Any:
        """The GRPO preset also sets the interval count, which lives in another section."""
        training = data.get("training") if isinstance(data, dict) else None
        if isinstance(training, dict) and training.get("preset") == "published_grpo":
            curriculum = data.get("curriculum") if isinstance(data.get("curriculum"), dict) else {}
            return {**data, "curriculum": {"intervals": _PUBLISHED_GRPO_INTERVALS, **curriculum}}
        return data

    @model_validator(mode="after")
    def _judge_when_used(self) -> EdcoConfig:
        if self.training.reward == "judge" and self.judge is None:
            raise ValueError("training.reward 'judge' needs a `judge` section (base_url, model)")
        if self.evaluation.metric == "judge_accuracy" and self.judge is None:
            raise ValueError("evaluation.metric 'judge_accuracy' needs a `judge` section (base_url, model)")
        return self

    @field_validator("run_name")
    @classmethod
    def _safe_run_name(cls, v: str) -> str:
        # The run name becomes a folder: it must not escape the store.
        if ".." in v or not _RUN_NAME.match(v):
            raise ValueError("must be 1-128 letters, digits, '.', '_' or '-', start with a letter or digit, no '..'")
        return v

    def identity(self) -> dict[str, Any]:
        """What defines the run's results: everything but where the store lives, which Ray cluster
        scores, and how the judge is reached (an endpoint moved after an outage serves the same verdicts)."""
        return self.model_dump(
            mode="json", exclude={"storage": True, "ray": True, "judge": set(JudgeConfig.OPERATIONAL)}
        )

    def identity_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def with_root(self, root: Path) -> EdcoConfig:
        return updated(self, storage=updated(self.storage, root=root))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The section model a field holds (also through `X | None`), if any."""
    return next(
        (
            a
            for a in (annotation, *getattr(annotation, "__args__", ()))
            if isinstance(a, type) and issubclass(a, BaseModel)
        ),
        None,
    )


def _key(loc: tuple[Any, ...], unknown: bool = False, root: type[BaseModel] = EdcoConfig) -> str:
    """The dotted config key of an error location, without pydantic's union/validator tags."""
    model: Any = root
    parts: list[str] = []
    for part in loc:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            if unknown:  # the offending key itself is the one to name
                parts.append(str(part))
            break
        parts.append(str(part))
        model = _submodel(fields[part].annotation)
    return ".".join(parts) or ".".join(map(str, loc)) or "<root>"


def _describe(errors: list[dict[str, Any]], root: type[BaseModel] = EdcoConfig) -> list[str]:
    by_key: dict[str, list[dict[str, Any]]] = {}
    for error in errors:
        by_key.setdefault(_key(error["loc"], error["type"] == "extra_forbidden", root), []).append(error)
    lines = []
    for key, errs in by_key.items():
        kinds = {e["type"] for e in errs}
        if "extra_forbidden" in kinds:
            lines.append(f"unknown key '{key}'")
        elif "missing" in kinds:
            lines.append(f"missing key '{key}'")
        else:
            reasons = "; ".join(dict.fromkeys(e["msg"].removeprefix("Value error, ") for e in errs))
            whole = key == "<root>"  # a rule across sections: its message names the keys
            lines.append(reasons if whole else f"'{key}': {reasons} (got {errs[0].get('input')!r})")
    return lines


def parse_config(data: Any, source: str = "<config>") -> EdcoConfig:
    """Validate a mapping; every problem is reported at once, each naming its key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a YAML mapping, got {type(data).__name__}")
    try:
        return EdcoConfig.model_validate(data)
    except ValidationError as exc:
        lines = "\n".join(f"  - {line}" for line in _describe(exc.errors()))
        raise ConfigError(f"{source}: invalid config\n{lines}") from None


def _section_path(cls: type[BaseModel], model: type[BaseModel] = EdcoConfig) -> tuple[str, ...] | None:
    """Where a section model sits in EdcoConfig ('scoring', 'calibration'), or None if it does not."""
    if cls is model:
        return ()
    for name, field in model.model_fields.items():
        sub = _submodel(field.annotation)
        if sub is not None and (path := _section_path(cls, sub)) is not None:
            return (name, *path)
    return None


M = TypeVar("M", bound=BaseModel)


def updated(model: M, /, **changes: Any) -> M:
    """`model` with `changes` applied and validated again, as `parse_config` would validate them.

    Use it instead of pydantic's `model_copy(update=...)`, which skips validation (a negative
    count or an unknown strategy would pass silently). The fields the model was built with are
    kept and the changes override them; fields never set keep falling back to their defaults, so
    a preset (`estimator: published`, `training.preset`) fills unset knobs as it does when parsing.
    A model among the changes is applied as its fields. A bad value raises ConfigError, naming
    its dotted key.
    """
    cls = type(model)
    data = {
        **model.model_dump(exclude_unset=True),
        **{k: v.model_dump(exclude_unset=True) if isinstance(v, BaseModel) else v for k, v in changes.items()},
    }
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        path = _section_path(cls)
        if path is None:
            where, lines = cls.__name__, _describe(exc.errors(), cls)
        else:
            where = ".".join(path) or "<config>"
            lines = _describe([{**e, "loc": (*path, *e["loc"])} for e in exc.errors()])
        listed = "\n".join(f"  - {line}" for line in lines)
        raise ConfigError(f"{where}: invalid config update\n{listed}") from None


def load_config(path: str | Path) -> EdcoConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start : exc.start + 1]!r}); "
            "a config is a YAML file",
            hint="save it as UTF-8, or check that the path names the YAML config, not a data or model file",
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_config(data, str(path))


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections as dotted keys ('scoring.mode'): the names users write and MLflow shows."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_diff(old: EdcoConfig, new: EdcoConfig) -> list[str]:
    """Human-readable differences between two configs' identities."""
    a, b = flatten(old.identity()), flatten(new.identity())
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]
