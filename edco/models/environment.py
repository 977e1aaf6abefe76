"""The machine and libraries a stage computed on: what its numbers depend on besides its inputs.

The same config, data and seeds give bit-identical results on one machine, but not across
machines: CPU bfloat16 matmuls run on AMX tiles on some x86 parts and on AVX-512 BF16 on
others, GPUs differ again, and library releases change kernels. A run that moves machines on
resume, or a comparison whose members ran on two, can then differ for no reason in the config;
recording this with every stage is what lets a user see why.
"""

from __future__ import annotations

import platform
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "transformers", "trl", "accelerate", "peft")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")
"""The x86 CPU features that decide which kernels run a CPU bfloat16 matmul."""


def environment() -> dict[str, Any]:
    """The accelerator or CPU (with its bfloat16 features), torch's thread count, and the versions
    of the libraries that compute; the thread count is read now, the rest once per process."""
    import torch  # here, not above: `describe` serves reports and the MLflow tracker, which need no torch

    return {**_machine(), "threads": torch.get_num_threads()}


@cache
def cpu_features() -> tuple[str, bool, list[str]]:
    """This CPU's name, whether it is x86 (whose flags `BF16_FLAGS` names), and which of those it has."""
    cpu, flags = cpu_info(Path("/proc/cpuinfo"))
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i686")
    return cpu, x86, [flag for flag in BF16_FLAGS if flag in flags]


@cache
def _machine() -> dict[str, Any]:
    import torch

    cpu, _, bf16_features = cpu_features()
    return {
        "accelerator": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "cpu": cpu,
        "cpu_bf16": bf16_features,
        "python": platform.python_version(),
        **{name: _version(name) for name in LIBRARIES},
    }


def describe(env: dict[str, Any]) -> str:
    """One line a reader can tell two machines apart by: the accelerator, the CPU and its bfloat16
    features, the thread count, and the library versions."""
    bf16 = ", ".join(env.get("cpu_bf16", [])) or "none"
    libraries = ", ".join(f"{name} {env.get(name)}" for name in LIBRARIES)
    accelerator = env.get("accelerator")
    device = "" if accelerator == "cpu" else f"{accelerator}, host "
    return (
        f"{device}CPU {env.get('cpu')} (bfloat16 features: {bf16}), {env.get('threads')} threads, "
        f"Python {env.get('python')}, {libraries}"
    )


def cpu_info(path: Path) -> tuple[str, set[str]]:
    """The CPU's model name and feature flags from a Linux cpuinfo file (the platform's
    processor name and no flags elsewhere)."""
    if not path.exists():
        return platform.processor() or platform.machine(), set()
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields.get("model name", platform.machine()), set(fields.get("flags", "").split())


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
