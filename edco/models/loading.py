"""Resolving, loading and checkpointing the model being fine-tuned.

Device and precision are resolved here, once per load (`edco.models.devices`); every other module
reads `model.device`. A checkpoint is a folder that `AutoModelForCausalLM.from_pretrained`
(or `PeftModel.from_pretrained` under LoRA) loads as it is, safetensors only, so users can
serve or evaluate any interval's model with their own tools.
"""

from __future__ import annotations

import re
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from edco.config.schema import LoraConfig, ModelConfig
from edco.errors import ModelError
from edco.models.bundled import EMBEDDED, ensure_embedded
from edco.models.devices import resolve_placement

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".ckpt"}


def resolve(name: str) -> str:
    """Turn `model.name` into something `from_pretrained` accepts: a local folder or a hub id."""
    if name in EMBEDDED:
        return str(ensure_embedded(name))
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser().resolve())
    if _HUB_ID.match(name):
        return name
    known = ", ".join(sorted(EMBEDDED))
    raise ModelError(
        f"unknown model name '{name}': not an embedded model ({known}), a local folder, or an org/name hub id"
    )


def _pretrained(auto_class: type, source: str, cfg: ModelConfig, **kwargs: object) -> object:
    try:
        return auto_class.from_pretrained(source, trust_remote_code=cfg.trust_remote_code, **kwargs)
    except Exception as exc:  # hub/network/format errors all mean the same to a user
        raise ModelError(f"cannot load model '{cfg.name}' from {source}: {exc}") from None


def load_tokenizer(cfg: ModelConfig) -> PreTrainedTokenizerBase:
    tokenizer = _pretrained(AutoTokenizer, resolve(cfg.name), cfg)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation appends on the right
    return tokenizer


def load_model(cfg: ModelConfig, checkpoint: Path | None = None, *, training: bool = False) -> PreTrainedModel:
    """The base model or an interval's checkpoint, with LoRA adapters when configured, placed
    on the configured device in the configured precision (float32 masters when `training`
    a float16 model)."""
    place = resolve_placement(cfg)
    dtype = place.train_dtype if training else place.dtype
    base = resolve(cfg.name)
    if checkpoint is not None:
        _refuse_pickles(checkpoint)
    if cfg.lora is None:
        model = _pretrained(AutoModelForCausalLM, str(checkpoint or base), cfg, dtype=dtype, use_safetensors=True)
        model.config._name_or_path = base  # what the run descends from: GRPO builds its KL reference from it
    else:
        model = _with_lora(_pretrained(AutoModelForCausalLM, base, cfg, dtype=dtype), cfg.lora, checkpoint)
    return model.to(place.device)


def _with_lora(model: PreTrainedModel, lora: LoraConfig, checkpoint: Path | None) -> PreTrainedModel:
    from peft import LoraConfig as PeftLoraConfig
    from peft import PeftModel, get_peft_model

    if checkpoint is not None:
        try:
            return PeftModel.from_pretrained(model, str(checkpoint), is_trainable=True)
        except Exception as exc:
            raise ModelError(f"cannot load the LoRA checkpoint {checkpoint}: {exc}") from None
    peft_cfg = PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_cfg)


def _refuse_pickles(folder: Path) -> None:
    """A checkpoint must never be able to execute code when loaded: safetensors only."""
    if not folder.is_dir():
        raise ModelError(f"{folder}: not a checkpoint folder")
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in _PICKLE_SUFFIXES)
    if pickles:
        raise ModelError(f"{folder}: refusing pickled weights {pickles}; checkpoints are safetensors only")


def save_checkpoint(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: Path) -> None:
    """A folder `from_pretrained` loads as it is: the full model, or only the adapters under LoRA."""
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def checkpoint_bytes(model: PreTrainedModel) -> int:
    """About what `save_checkpoint` writes: the trainable parameters, which are every weight under
    full fine-tuning and the adapters only under LoRA (what a full disk's message says is needed)."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
