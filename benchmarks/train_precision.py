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

from benchmarks.harness import add_run_args, benchmark_parser, model_and_tokenizer, timed
from edco.config.schema import ModelConfig
from edco.storage.store import RunStore
from edco.training.trainers import train

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


def main() -> None:
    parser = benchmark_parser(__doc__)
    add_run_args(parser, interval=True)
    parser.add_argument("--order", default="mixed,float32,mixed", help="precisions to replay, in this order")
    args = parser.parse_args()

    store = RunStore(args.run_dir)
    cfg, stats = store.config(), store.train_stats(args.interval)
    recorded = store.training_seconds(args.interval)
    print(
        f"{store.name}, interval {args.interval}: {store.selected_records(args.interval).num_rows} records, "
        f"{stats['summary']['train_tokens']:.0f} training tokens, "
        f"run made with model.dtype {cfg.model.dtype}, train_dtype {cfg.model.train_dtype}\n"
    )
    print("| training | seconds | train loss |")
    print("|---|---|---|")
    print(f"| the stage, in the run | {recorded:.1f} | {stats['summary']['train_loss']:.6f} |")
    for name in args.order.split(","):
        seconds, loss = replay(store, args.interval, cfg.model.model_copy(update=PRECISIONS[name]))
        print(f"| replayed, {name} | {seconds:.1f} | {loss:.6f} |", flush=True)


if __name__ == "__main__":
    main()
