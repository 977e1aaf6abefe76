"""Device and precision: resolved once where the model loads, from the config and the machine."""

from __future__ import annotations

import pytest
import torch

from edco.config import ModelConfig, load_config
from edco.devices import placement, resolve_placement
from edco.errors import ConfigError

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


def test_float16_trains_as_float32_masters():
    assert placement("cpu", "float16", **NO_GPU).train_dtype == torch.float32
    assert placement("cpu", "bfloat16", **NO_GPU).train_dtype == torch.bfloat16


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
