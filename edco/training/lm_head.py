"""TRL's loss head, on the CPU, scoring only the positions the loss reads.

TRL 1.16's SFT and GRPO losses project the hidden states onto the vocabulary in chunks
(`trl.trainer.utils.add_fused_lm_head`). Where Triton runs (CUDA, XPU) they project the labelled
positions only; everywhere else every position, because on Neuron a changing number of positions
recompiles the graph. A CPU compiles nothing, yet it pays for the projection, the log-softmax and
the metrics' entropy of every prompt position the completion mask drops (394 prompt against 16
answer tokens per demo sample in the profiled selection): 34-45% of a train stage here, and an
interval replayed compacted took 49-56 s instead of 93-107 s (`benchmarks/train_lm_head.py`).
Compacting gives each labelled position the same log-probability (rows are independent) and so the
same loss and gradients, from fewer rows.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from trl.trainer import utils as trl_utils

_SWITCH = "_use_triton"  # TRL's predicate: compact the positions on this device?


def compact_on_cpu() -> bool:
    """Make TRL compact the labelled positions on the CPU too (idempotent). False when this TRL
    has no such switch: it then trains as it always would, only slower on a CPU."""
    decide: Callable[[torch.device], bool] | None = getattr(trl_utils, _SWITCH, None)
    if decide is None:
        return False
    if not getattr(decide, "edco_compacts_cpu", False):

        def compact(device: torch.device) -> bool:
            return device.type == "cpu" or decide(device)

        compact.edco_compacts_cpu = True  # type: ignore[attr-defined]
        compact.__wrapped__ = decide  # type: ignore[attr-defined]  # TRL's own, for benchmarks/train_lm_head.py
        setattr(trl_utils, _SWITCH, compact)
    return True
