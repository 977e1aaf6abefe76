"""Scoring time against pool size: is the score stage linear in the pool, and at how many seconds per sample?

Each pool is the first n items of the config's pool, scored whole by `score_table` with the
config's scoring settings, one size after the other in one process (the model is loaded once,
and one warm-up batch runs before the clock starts). A least-squares line seconds = a + b n
gives the seconds per sample (b) and the fixed cost (a); R^2 and each size's residual say
how straight it is. Prints Markdown.

    .venv/bin/python -m benchmarks.pool_scaling configs/compare-teleqna.yaml [--sizes 250,500,1000,2000]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.harness import benchmark_parser, model_and_tokenizer, pool_records, timed
from edco.config.schema import load_config
from edco.scoring.entropy import score_table
from edco.seeds import derive_seed, seed_everything


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("config", type=Path)
    parser.add_argument("--sizes", default="250,500,1000,2000")
    args = parser.parse_args()
    cfg = load_config(args.config)
    sizes = [int(s) for s in args.sizes.split(",")]
    pool = pool_records(cfg.data.pool, max(sizes), cfg.data.columns, cfg.data.seed)
    model, tokenizer = model_and_tokenizer(cfg.model)
    score_table(model, tokenizer, pool.slice(0, cfg.scoring.batch_size), cfg.scoring)  # warm-up, not timed
    seconds = []
    for n in sizes:
        seed_everything(derive_seed(cfg.seed, 0, "score"))
        seconds.append(timed(score_table, model, tokenizer, pool.slice(0, n), cfg.scoring)[0])
    slope, intercept = np.polyfit(sizes, seconds, 1)
    fitted = intercept + slope * np.asarray(sizes)
    r2 = 1 - np.sum((np.asarray(seconds) - fitted) ** 2) / np.sum((np.asarray(seconds) - np.mean(seconds)) ** 2)
    print(
        f"{cfg.data.pool}, {cfg.model.name}, {cfg.scoring.mode} k={cfg.scoring.prefix_tokens}, "
        f"batch {cfg.scoring.batch_size}\n"
    )
    print("| pool | seconds | s / sample | fitted seconds | residual |")
    print("|---|---|---|---|---|")
    for n, s, f in zip(sizes, seconds, fitted):
        print(f"| {n} | {s:.1f} | {s / n:.3f} | {f:.1f} | {(s - f) / f:+.1%} |")
    print(f"\nfit: seconds = {intercept:.2f} + {slope:.4f} x pool (R^2 = {r2:.4f})")


if __name__ == "__main__":
    main()
