"""The entropy scorer on vLLM (`scoring.engine: vllm`): the published estimator as its authors
run it — vLLM `generate` with a seed per request and the top-K log-probabilities of every
generated token — for prefix mode with `top_logprobs` set (the published preset: temperature
0.7, top-p 0.7, up to 128 tokens, K = 20). Full-vocabulary entropy stays on the HF engine: an
inference server returns only the top K.

What is identical and what is not: vLLM reports the log-probabilities of the raw logits
(`logprobs_mode: raw_logprobs`, before temperature and top-p), as the HF engine measures them,
so the greedy estimator agrees with HF to float precision; sampled paths differ (another RNG),
so sampled scores agree in distribution only. A request's seed is derived from the stage's seed
and the sample's id, so its score depends on nothing but the sample (not on its batch or on the
other requests). vLLM sometimes returns the sampled token as a (K+1)-th entry when it is not
among the top K: it is dropped, so every token's entropy is the top-K estimator's.

vLLM is never part of the default install: it pins its own torch and transformers. `make
vllm-env` builds its own environment (`.venv-vllm`), where the core package runs without Prefect
or MLflow.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import torch
from transformers import PreTrainedTokenizerBase

from edco.config.schema import ModelConfig, ScoringConfig
from edco.errors import ConfigError
from edco.models.devices import resolve_placement
from edco.models.loading import resolve
from edco.progress import Progress
from edco.scoring.entropy import aggregate, batch_plan, entropy_rows, token_entropy
from edco.seeds import derive_seed

REQUESTS_PER_CALL = 64  # requests handed to one generate() call: progress and memory stay bounded


def require_vllm() -> None:
    """A clear error when vLLM is not importable (it lives in its own environment)."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise ConfigError(
            "scoring.engine 'vllm' needs vLLM, which is not installed in this environment",
            hint="build its environment with `make vllm-env` and run edco from .venv-vllm (see README, Scaling out)",
        ) from None


@contextmanager
def engine(model: ModelConfig, checkpoint: Path | None, cfg: ScoringConfig, context: int) -> Iterator[tuple[Any, Any]]:
    """(vLLM LLM, LoRA request or None) for the interval's model, shut down afterwards: the train
    stage that follows in the same process needs the memory back.

    The engine runs in this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`): a Prefect task, a test
    or a script is not a `__main__` that vLLM's spawned engine process could re-import. On a CPU
    its KV cache is `scoring.vllm_kv_cache_gib`, not vLLM's default of most of the memory;
    `context`: the longest prompt plus the tokens generated after it."""
    require_vllm()
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from vllm import LLM
    from vllm.lora.request import LoRARequest

    place = resolve_placement(model)
    lora = model.lora is not None
    source = resolve(model.name) if lora or checkpoint is None else str(checkpoint)
    options: dict[str, Any] = {"enable_lora": True, "max_lora_rank": model.lora.r} if lora else {}
    if place.device.type == "cpu":
        options["kv_cache_memory_bytes"] = int(cfg.vllm_kv_cache_gib * 2**30)
        # vLLM 0.32's CPU runner cannot rewind a seeded request's generator after a partial
        # (chunked) prefill ("CPU Generator does not use offset"): whole prompts only.
        options |= {"enable_chunked_prefill": False, "max_num_batched_tokens": max(model.max_length, context)}
    llm = LLM(
        model=source,
        tokenizer=resolve(model.name),
        dtype=str(place.dtype).removeprefix("torch."),
        max_model_len=max(model.max_length, context),
        max_logprobs=cfg.top_logprobs,
        logprobs_mode="raw_logprobs",
        trust_remote_code=model.trust_remote_code,
        enforce_eager=place.device.type == "cpu",
        seed=0,
        **options,
    )
    adapter = LoRARequest("interval", 1, str(checkpoint)) if lora and checkpoint is not None else None
    try:
        yield llm, adapter
    finally:
        del llm
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def request_seed(seed: int, sample_id: str) -> int:
    """The sampling seed of one sample's request: from the stage's seed and the sample alone."""
    return derive_seed(seed, 0, f"score.request.{sample_id}")


def stop_ids(tokenizer: PreTrainedTokenizerBase, source: str) -> list[int]:
    """The tokens generation stops at, as the HF engine's `eos_ids`: the tokenizer's EOS and the
    model's generation-config EOS ids."""
    from transformers import GenerationConfig

    try:
        ids = GenerationConfig.from_pretrained(source).eos_token_id
    except OSError:  # a model without a generation config
        ids = None
    ids = ids if isinstance(ids, list) else [ids] if ids is not None else []
    return sorted({tokenizer.eos_token_id, *ids} - {None})


def step_entropies(logprobs: list[dict[int, Any]], k: int, unit: str) -> torch.Tensor:
    """The top-`k` entropy of each generated token from vLLM's per-token {token id: Logprob} (a
    (k+1)-th entry, the sampled token outside the top k, dropped by its rank)."""
    rows = [[entry.logprob for entry in step.values() if entry.rank <= k] for step in logprobs]
    return torch.stack([token_entropy(torch.tensor(row, dtype=torch.float64), k, unit) for row in rows])


def score_table(
    model: ModelConfig,
    checkpoint: Path | None,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    cfg: ScoringConfig,
    seed: int | None,
    progress: Progress | None = None,
) -> pa.Table:
    """`edco.scoring.entropy.score_table` on vLLM: the same prompts and aggregation, one request
    per sample under its own seed, the same table."""
    from vllm import SamplingParams

    prompts, lengths, _ = batch_plan(tokenizer, records, cfg.instruction, cfg.batch_size)
    ids = records["id"].to_pylist()
    token_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    stop = stop_ids(tokenizer, resolve(model.name))
    sampling = cfg.temperature > 0
    scored: list[tuple[float, int]] = []
    with engine(model, checkpoint, cfg, max(lengths, default=0) + cfg.new_tokens) as (llm, adapter):
        for start in range(0, len(prompts), REQUESTS_PER_CALL):
            chunk = range(start, min(start + REQUESTS_PER_CALL, len(prompts)))
            params = [
                SamplingParams(
                    temperature=cfg.temperature if sampling else 0.0,
                    top_p=cfg.top_p if sampling else 1.0,
                    max_tokens=cfg.new_tokens,
                    logprobs=cfg.top_logprobs,
                    stop_token_ids=stop,
                    seed=None if seed is None else request_seed(seed, ids[i]),
                )
                for i in chunk
            ]
            requests = [{"prompt_token_ids": token_ids[i]} for i in chunk]
            for out in llm.generate(requests, params, lora_request=adapter, use_tqdm=False):
                entropies = step_entropies(out.outputs[0].logprobs, cfg.top_logprobs, cfg.unit)
                scored.append(
                    (aggregate(entropies, cfg.aggregate, cfg.top_fraction, cfg.top_rounding), entropies.numel())
                )
            if progress:
                progress(len(scored), len(prompts))
    return entropy_rows(records, lengths, scored, cfg)
