"""A finished run's training stage replayed in float32 and in mixed precision, on the very same work.

Why it exists: the demo comparison's train stages looked no faster under bfloat16 autocast
than the float32 run's, while a single SFT step was ~1.4x faster. Those stages trained
different selections (bfloat16 scoring ranks the pool a little differently), so they were the
wrong comparison. This replays one interval's trainer call exactly as the stage makes it (the
run's config, the interval's starting model, its selected records and derived seed, SEC's
extra loss passes when the run is `sec`) once per precision, one after the other in one
process, and prints the seconds beside the stage's own recorded training seconds. The train
loss printed beside each replay shows whether it repeated the stage's computation bit for bit
(it does for the precision the run was made in). Model load is not timed, nor the gradient
diagnostics, as in the stage's training seconds.

Prints Markdown.

    .venv/bin/python -m benchmarks.train_precision runs/compare-demo-random-s0 \
        [--interval 0] [--order mixed,float32,mixed]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from benchmarks.harness import add_run_args, benchmark_parser, model_and_tokenizer, timed
from edco.config.schema import ModelConfig
from edco.storage.store import RunStore
from edco.training.trainers import train

Replay = Callable[[], tuple[float, float]]

PRECISIONS = {
    "float32": {"dtype": "float32", "train_dtype": "auto"},
    "mixed": {"dtype": "bfloat16", "train_dtype": "float32"},
}


def replay(store: RunStore, interval: int, model_cfg: ModelConfig) -> tuple[float, float]:
    """(seconds, train loss) of the interval's trainer call with the model loaded per `model_cfg`."""
    cfg = store.config().model_copy(update={"model": model_cfg})
    model, tokenizer = model_and_tokenizer(model_cfg, store.model_checkpoint(interval), training=True)
    records = store.selected_records(interval)
    seconds, stats = timed(train, model, tokenizer, records, cfg, interval)
    return seconds, stats.summary["train_loss"]


def replay_table(
    store: RunStore, interval: int, column: str, replays: Iterable[tuple[str, Replay]], note: str = ""
) -> None:
    """Print the interval's records and tokens, then a Markdown row for the stage as the run
    recorded it and one per replay, each as soon as it is done."""
    stats = store.train_stats(interval)
    print(
        f"{store.name}, interval {interval}: {store.selected_records(interval).num_rows} records, "
        f"{stats['summary']['train_tokens']:.0f} training tokens{note}\n"
    )
    print(f"| {column} | seconds | train loss |")
    print("|---|---|---|")
    print(f"| the stage, in the run | {store.training_seconds(interval):.1f} | {stats['summary']['train_loss']:.6f} |")
    for name, run in replays:
        seconds, loss = run()
        print(f"| {name} | {seconds:.1f} | {loss:.6f} |", flush=True)


def replay_args(doc: str, order: str) -> tuple[RunStore, int, list[str]]:
    """The run's store, the interval and the variants to replay in order, from the command line."""
    parser = benchmark_parser(doc)
    add_run_args(parser, interval=True)
    parser.add_argument("--order", default=order, help="the variants to replay, in this order")
    args = parser.parse_args()
    return RunStore(args.run_dir), args.interval, args.order.split(",")


def main() -> None:
    store, interval, order = replay_args(__doc__, "mixed,float32,mixed")
    model = store.config().model
    replays = (
        (f"replayed, {name}", partial(replay, store, interval, model.model_copy(update=PRECISIONS[name])))
        for name in order
    )
    note = f", run made with model.dtype {model.dtype}, train_dtype {model.train_dtype}"
    replay_table(store, interval, "training", replays, note)


if __name__ == "__main__":
    main()
