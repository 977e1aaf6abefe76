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
from unittest import mock

from trl.trainer import utils as trl_utils

from benchmarks.harness import add_run_args, benchmark_parser
from benchmarks.train_precision import replay
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
    parser = benchmark_parser(__doc__)
    add_run_args(parser, interval=True)
    parser.add_argument("--order", default="shipped,compact,shipped,compact", help="loss heads to replay, in order")
    args = parser.parse_args()

    store = RunStore(args.run_dir)
    stats = store.train_stats(args.interval)
    records = store.selected_records(args.interval)
    print(
        f"{store.name}, interval {args.interval}: {records.num_rows} records, "
        f"{stats['summary']['train_tokens']:.0f} training tokens\n"
    )
    print("| loss head | seconds | train loss |")
    print("|---|---|---|")
    recorded = store.training_seconds(args.interval)
    print(f"| the stage, in the run | {recorded:.1f} | {stats['summary']['train_loss']:.6f} |")
    for name in args.order.split(","):
        with HEADS[name]():
            seconds, loss = replay(store, args.interval, store.config().model)
        print(f"| {name} | {seconds:.1f} | {loss:.6f} |", flush=True)


if __name__ == "__main__":
    main()
