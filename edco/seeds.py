"""Per-(run seed, interval, stage) seeds.

A resumed run re-enters a stage in a fresh process; deriving each stage's seed from its
coordinates (instead of a global RNG stream) makes the recomputed stage equal the original.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def derive_seed(seed: int, interval: int, stage: str) -> int:
    digest = hashlib.sha256(f"{seed}:{interval}:{stage}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % (2**63)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
