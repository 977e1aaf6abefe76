"""Where the model runs and in which precision, resolved once where it is loaded.

Everything downstream (scoring, training, evaluation) reads `model.device` and moves its
batches there, so a config decides the placement in one place and no stage guesses.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from edco.config.schema import ModelConfig
from edco.errors import ConfigError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype  # of the weights for scoring and evaluation
    train_dtype: torch.dtype  # of the weights training updates

    @property
    def autocast(self) -> torch.dtype | None:
        """The half precision training computes in over float32 master weights, if any."""
        return self.dtype if self.train_dtype != self.dtype else None


def placement(
    device: str, dtype: str, train_dtype: str = "auto", *, cuda_devices: int, bf16_supported: bool
) -> Placement:
    """The pure rule, given what the machine offers (tests pass machines they do not have).

    'auto' means a GPU when one is visible, and bfloat16 there when the GPU supports it:
    the precision the 3-8B models of this method are fine-tuned in. On the CPU, 'auto' is
    float32, since CPU bfloat16 matmuls are slower than float32 ones on most x86 parts. CPUs
    with AMX tiles or AVX-512 BF16 are the exception (2.3x and 2.1x faster scoring on this
    project's two machines; see docs/BENCHMARKS.md); there `model.dtype: bfloat16` is the
    faster choice, asked for by name, with `train_dtype: float32` to keep AdamW's small updates
    from rounding away in bfloat16.
    float16 weights cannot take AdamW steps safely at all: they always train as float32 masters.
    """
    if device == "auto":
        device = "cuda" if cuda_devices else "cpu"
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not cuda_devices:
            raise ConfigError(
                f"'model.device': {device} asked for, but no CUDA GPU is visible",
                hint="use model.device: auto or cpu on this machine",
            )
        if resolved.index is not None and resolved.index >= cuda_devices:
            raise ConfigError(f"'model.device': {device} asked for, but only {cuda_devices} CUDA GPU(s) are visible")
    if dtype == "auto":
        weights = torch.bfloat16 if resolved.type == "cuda" and bf16_supported else torch.float32
    else:
        weights = DTYPES[dtype]
    masters = torch.float32 if train_dtype == "float32" or weights == torch.float16 else weights
    return Placement(resolved, weights, masters)


def resolve_placement(cfg: ModelConfig) -> Placement:
    """The placement `cfg` asks for on this machine."""
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return placement(
        cfg.device,
        cfg.dtype,
        cfg.train_dtype,
        cuda_devices=cuda,
        bf16_supported=bool(cuda) and torch.cuda.is_bf16_supported(),
    )


def slow_cpu_bfloat16(place: Placement, x86: bool, bf16_features: Collection[str]) -> bool:
    """Whether `place` computes in bfloat16 (its weights, or training's autocast) on an x86 CPU with
    neither AMX nor AVX-512 BF16, where bfloat16 matmuls are emulated: over 100x slower than float32
    on an AVX2-only AMD EPYC (docs/BENCHMARKS.md), so a run that would take an hour takes days, with
    nothing to say why. Other CPUs (Arm) are not judged: their flags differ."""
    computes_bf16 = torch.bfloat16 in (place.dtype, place.autocast)
    return place.device.type == "cpu" and computes_bf16 and x86 and not bf16_features


def precision_warning(cfg: ModelConfig) -> str | None:
    """The line to print before a run whose bfloat16 would crawl on this machine (`slow_cpu_bfloat16`)."""
    from edco.models.environment import cpu_features

    cpu, x86, bf16_features = cpu_features()
    if not slow_cpu_bfloat16(resolve_placement(cfg), x86, bf16_features):
        return None
    return (
        f"this config computes in bfloat16 (model.dtype: {cfg.dtype}) on a CPU without AMX or AVX-512 BF16 "
        f"({cpu}), where bfloat16 matmuls are emulated, over 100x slower than float32; model.dtype: auto "
        "(float32 here) is the fast choice"
    )


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to `threads` (None: left as they are), then restored. On CPUs the
    thread count changes how float sums are split, so scores are bit-identical only at equal counts."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
