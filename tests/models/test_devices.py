"""Device and precision: resolved once where the model loads, from the config and the machine."""

from __future__ import annotations

import pytest
import torch

from edco.config.schema import ModelConfig, load_config
from edco.errors import ConfigError
from edco.models.devices import placement, precision_warning, resolve_placement, slow_cpu_bfloat16
from edco.models.environment import cpu_features

GPU = {"cuda_devices": 1, "bf16_supported": True}
NO_GPU = {"cuda_devices": 0, "bf16_supported": False}


@pytest.mark.parametrize(
    "device, dtype, machine, expected",
    [
        ("auto", "auto", GPU, ("cuda", torch.bfloat16)),
        ("auto", "auto", {"cuda_devices": 1, "bf16_supported": False}, ("cuda", torch.float32)),  # e.g. a V100
        ("auto", "auto", NO_GPU, ("cpu", torch.float32)),
        ("cpu", "auto", GPU, ("cpu", torch.float32)),
        ("cuda:1", "float16", {"cuda_devices": 2, "bf16_supported": True}, ("cuda:1", torch.float16)),
        ("cpu", "bfloat16", NO_GPU, ("cpu", torch.bfloat16)),
    ],
)
def test_placement_rule(device, dtype, machine, expected):
    got = placement(device, dtype, **machine)
    assert (str(got.device), got.dtype) == expected


def test_a_gpu_asked_for_on_a_machine_without_one_is_a_config_error():
    with pytest.raises(ConfigError, match="'model.device': cuda asked for, but no CUDA GPU is visible"):
        placement("cuda", "auto", **NO_GPU)
    with pytest.raises(ConfigError, match="only 1 CUDA GPU"):
        placement("cuda:3", "auto", **GPU)


@pytest.mark.parametrize(
    "dtype, train_dtype, masters, autocast",
    [
        ("float16", "auto", torch.float32, torch.float16),  # float16 weights never take AdamW steps
        ("bfloat16", "auto", torch.bfloat16, None),
        ("bfloat16", "float32", torch.float32, torch.bfloat16),  # mixed precision
        ("float32", "float32", torch.float32, None),
        ("auto", "float32", torch.float32, None),  # on this CPU 'auto' is float32 already
    ],
)
def test_training_precision(dtype, train_dtype, masters, autocast):
    got = placement("cpu", dtype, train_dtype, **NO_GPU)
    assert (got.train_dtype, got.autocast) == (masters, autocast)


def test_auto_on_a_bf16_gpu_with_float32_masters_is_mixed_precision():
    got = placement("auto", "auto", "float32", **GPU)
    assert (got.dtype, got.train_dtype, got.autocast) == (torch.bfloat16, torch.float32, torch.bfloat16)


def test_medqa_config_resolves_to_a_gpu_in_bf16_when_one_is_visible():
    cfg = load_config("configs/medqa-qwen3-4b.yaml").model
    got = placement(cfg.device, cfg.dtype, **GPU)
    assert (got.device.type, got.dtype) == ("cuda", torch.bfloat16)


def test_this_machine_resolves_auto_to_what_it_has():
    got = resolve_placement(ModelConfig())
    if torch.cuda.is_available():
        assert got.device.type == "cuda"
    else:
        assert (got.device.type, got.dtype) == ("cpu", torch.float32)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu", ""])
def test_unknown_device_names_are_rejected(device):
    with pytest.raises(ValueError, match="must be 'auto', 'cpu', 'cuda' or 'cuda:N'"):
        ModelConfig(device=device)


@pytest.mark.parametrize(
    "dtype, train_dtype, device, x86, features, slow",
    [
        ("bfloat16", "auto", "cpu", True, [], True),  # an AVX2-only x86 CPU: emulated bfloat16
        ("float32", "float32", "cpu", True, [], False),
        ("auto", "auto", "cpu", True, [], False),  # auto is float32 on a CPU
        ("bfloat16", "float32", "cpu", True, [], True),  # mixed: training's autocast computes in bfloat16
        ("bfloat16", "float32", "cpu", True, ["avx512_bf16"], False),
        ("bfloat16", "auto", "cpu", True, ["amx_bf16", "avx512_bf16"], False),
        ("bfloat16", "auto", "cpu", False, [], False),  # Arm: its flags are not x86's, not judged
        ("bfloat16", "auto", "cuda", True, [], False),  # the GPU computes, whatever the host CPU is
    ],
)
def test_bfloat16_is_flagged_only_where_a_cpu_would_emulate_it(dtype, train_dtype, device, x86, features, slow):
    place = placement(device, dtype, train_dtype, **GPU)
    assert slow_cpu_bfloat16(place, x86, features) is slow


def test_the_precision_warning_follows_this_machine_s_cpu():
    _, x86, features = cpu_features()
    emulated = x86 and not features
    warning = precision_warning(ModelConfig(dtype="bfloat16", device="cpu"))
    assert (warning is not None) == emulated
    if emulated:
        assert "without AMX or AVX-512 BF16" in warning and "model.dtype: auto" in warning
    assert precision_warning(ModelConfig(device="cpu")) is None  # float32
