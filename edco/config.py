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
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edco.errors import ConfigError

DEFAULT_MODEL = "smollm2-135m-instruct"
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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
    name: str = Field(
        DEFAULT_MODEL,
        description="'smollm2-135m-instruct' (embedded, offline), a local model folder, or a Hugging Face id.",
    )
    lora: LoraConfig | None = Field(None, description="null for full fine-tuning, or LoRA settings.")
    max_length: int = Field(
        512, ge=16, description="Longest prompt+answer in tokens; longer records are rejected before interval 0."
    )
    trust_remote_code: bool = Field(False, description="Allow model repositories to run their own code.")


class ColumnMap(_Section):
    """Where the record contract's fields live in a user's file."""

    id: str | None = Field("id", description="Column with a unique id; null derives ids from the row number.")
    question: str = Field("question", description="Column with the question text.")
    choices: str | list[str] = Field(
        "choices", description="A list/dict column, or a list of columns, one per option."
    )
    answer: str = Field("answer", description="Column with the 0-based index or the letter of the answer.")
    category: str | None = Field("category", description="Optional column with the sample's category.")


class DataConfig(_Section):
    pool: str = Field("demo", description="'demo', a .jsonl/.json/.csv/.parquet file, or 'hf:<id or dir>[:split]'.")
    eval: str = Field("demo", description="Held-out set, same forms as `pool`; must share no id or question with the pool.")
    limit: int | None = Field(None, ge=1, description="Use only the first N pool items.")
    eval_limit: int | None = Field(None, ge=1, description="Use only the first N eval items.")
    columns: ColumnMap = Field(default_factory=ColumnMap, description="Column mapping for user files.")
    skip_invalid: bool = Field(
        False, description="Quarantine bad rows into the run folder instead of refusing to start."
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
    "unit": "bits",
}


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
    prefix_tokens: int = Field(8, ge=1, description="Generated tokens whose entropy is averaged in prefix mode.")
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
    unit: Literal["nats", "bits"] = Field("nats", description="Logarithm base of the entropy.")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("estimator") == "published":
            return {**_PUBLISHED_ESTIMATOR, **data}
        return data

    @property
    def new_tokens(self) -> int:
        """Tokens generated per sample: only the prefix is needed in prefix mode."""
        return self.prefix_tokens if self.mode == "prefix" else self.max_new_tokens

    @property
    def instruction(self) -> str:
        return self.prompt or ("quick" if self.mode == "prefix" else "reasoning")


class SelectionConfig(_Section):
    strategy: Literal["edco", "random"] = Field("edco", description="'edco': highest entropy first; 'random'.")
    top_n: int | Literal["auto"] = Field(
        "auto", description="Samples per interval; 'auto' = pool size x epochs / intervals (equal training budget)."
    )

    @field_validator("top_n")
    @classmethod
    def _positive(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 1:
            raise ValueError("must be a positive integer or 'auto'")
        return v


class CurriculumConfig(_Section):
    intervals: int = Field(3, ge=1, description="Score -> select -> train -> evaluate rounds.")


class TrainingConfig(_Section):
    method: Literal["sft"] = Field("sft", description="'sft' (loss on answer tokens); 'rl' comes later.")
    epochs: int = Field(1, ge=1, description="Passes over each interval's selection.")
    batch_size: int = Field(8, ge=1, description="Samples per optimizer step.")
    lr: float = Field(2e-5, gt=0.0, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")


class StorageConfig(_Section):
    root: Path = Field(Path("runs"), description="Store folder; each run lives in <root>/<run_name>/.")


class MlflowConfig(_Section):
    tracking_uri: str | None = Field(None, description="null: a SQLite file inside the store (no server needed).")
    experiment: str = Field("edco", description="MLflow experiment name.")


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
    storage: StorageConfig = Field(default_factory=StorageConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)

    @field_validator("run_name")
    @classmethod
    def _safe_run_name(cls, v: str) -> str:
        # The run name becomes a folder: it must not escape the store.
        if ".." in v or not _RUN_NAME.match(v):
            raise ValueError("must be 1-128 letters, digits, '.', '_' or '-', start with a letter or digit, no '..'")
        return v

    def identity(self) -> dict[str, Any]:
        """What defines the run's results: everything but where the store lives."""
        return self.model_dump(mode="json", exclude={"storage"})

    def identity_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def with_root(self, root: Path) -> "EdcoConfig":
        return self.model_copy(update={"storage": StorageConfig(root=root)})

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _key(loc: tuple[Any, ...], unknown: bool = False) -> str:
    """The dotted config key of an error location, without pydantic's union/validator tags."""
    model: Any = EdcoConfig
    parts: list[str] = []
    for part in loc:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            if unknown:  # the offending key itself is the one to name
                parts.append(str(part))
            break
        parts.append(str(part))
        annotation = fields[part].annotation
        model = next((a for a in (annotation, *getattr(annotation, "__args__", ())) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return ".".join(parts) or ".".join(map(str, loc)) or "<root>"


def _describe(errors: list[dict[str, Any]]) -> list[str]:
    by_key: dict[str, list[dict[str, Any]]] = {}
    for error in errors:
        by_key.setdefault(_key(error["loc"], error["type"] == "extra_forbidden"), []).append(error)
    lines = []
    for key, errs in by_key.items():
        kinds = {e["type"] for e in errs}
        if "extra_forbidden" in kinds:
            lines.append(f"unknown key '{key}'")
        elif "missing" in kinds:
            lines.append(f"missing key '{key}'")
        else:
            reasons = "; ".join(dict.fromkeys(e["msg"] for e in errs))
            lines.append(f"'{key}': {reasons} (got {errs[0].get('input')!r})")
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


def load_config(path: str | Path) -> EdcoConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror})") from None
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
