"""A finished run's training stage replayed with TRL's loss head as shipped and as edco runs it.

Why it exists: on the CPU, TRL 1.16 projects every position of an SFT batch onto the
vocabulary, the prompt positions the completion mask drops included; edco has it project the
labelled ones only, as TRL does on a GPU (`edco/training/lm_head.py`). This replays one
interval's trainer call exactly as the stage makes it (`benchmarks.train_precision.replay`: the
run's config, the interval's starting model, its records and seed), alternately with each loss
head, in one process, and prints the seconds and the train loss of each: the loss shows that
both compute the same training (to float rounding).

Prints Markdown.

    .venv/bin/python -m benchmarks.train_lm_head runs/compare-demo-32-edco-s0 \
        [--interval 0] [--order shipped,compact,shipped,compact]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from unittest import mock

from trl.trainer import utils as trl_utils

from benchmarks.train_precision import replay, replay_args, replay_table
from edco.storage.store import RunStore
from edco.training import lm_head, trainers


@contextmanager
def as_shipped() -> Iterator[None]:
    """TRL's own predicate back, and edco's switch off, for the replay inside."""
    lm_head.compact_on_cpu()
    with (
        mock.patch.object(trl_utils, "_use_triton", trl_utils._use_triton.__wrapped__),
        mock.patch.object(trainers, "compact_on_cpu", lambda: False),
    ):
        yield


HEADS = {"shipped": as_shipped, "compact": nullcontext}


def main() -> None:
    store, interval, order = replay_args(__doc__, "shipped,compact,shipped,compact")
    replay_table(store, interval, "loss head", ((name, partial(_replay, store, interval, name)) for name in order))


def _replay(store: RunStore, interval: int, head: str) -> tuple[float, float]:
    with HEADS[head]():
        return replay(store, interval, store.config().model)


if __name__ == "__main__":
    main()
