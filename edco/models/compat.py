"""Names transformers changed between the versions edco runs on: 5.2x (the default install) and
5.19, which vLLM's CPU build pins (`make vllm-env`, where edco runs whole beside the engine)."""

from __future__ import annotations

from dataclasses import fields

from transformers import TrainingArguments
from transformers.modeling_outputs import CausalLMOutputWithPast


def _first_field(cls: type, new: str, old: str) -> str:
    return new if any(f.name == new for f in fields(cls)) else old


CACHE = _first_field(CausalLMOutputWithPast, "cache", "past_key_values")  # a forward's key-value cache, in and out
CHECKPOINTING = _first_field(TrainingArguments, "activation_checkpointing", "gradient_checkpointing")
