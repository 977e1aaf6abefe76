"""Training an interval on 2 torchrun processes against 1 process: what does a launch cost and what does it buy here?

Two runs of the same config (the demo task on SmolLM2-135M, one interval, its selection scored
and selected once each) train their interval through the train stage itself (`tasks/train.py`),
one in the stage's process and one by `training.launcher: torchrun` on 2 ranks (the same global
batch, half on each rank). The stage's seconds include the launch (Python, torch, TRL and the
model loaded once per rank); the tokens are TRL's count. Prints Markdown.

    .venv/bin/python -m benchmarks.train_launch [--samples 16] [--batch 8]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.harness import add_demo_args, benchmark_parser
from edco.config.schema import parse_config
from edco.flows.curriculum import create_or_check
from edco.tasks.score import score
from edco.tasks.select import select
from edco.tasks.train import train


def main() -> None:
    parser = benchmark_parser(__doc__)
    add_demo_args(parser, samples=16, batch=8, repeats=1)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for launcher, processes in (("local", 1), ("torchrun", 2)):
            cfg = parse_config(
                {
                    "run_name": launcher,
                    "model": {"max_length": 1024},
                    "data": {"limit": args.samples, "eval_limit": 4},
                    "scoring": {"prefix_tokens": 1, "batch_size": args.samples},
                    "selection": {"top_n": args.samples},
                    "curriculum": {"intervals": 1},
                    "training": {"batch_size": args.batch, "launcher": launcher, "num_processes": processes},
                    "diagnostics": {"gradient_samples": 0},
                    "storage": {"root": str(Path(root) / launcher)},
                }
            )
            store = create_or_check(cfg)
            score.fn(str(store.run_dir), 0)
            select.fn(str(store.run_dir), 0)
            start = time.perf_counter()
            train.fn(str(store.run_dir), 0)
            seconds = time.perf_counter() - start
            stats = store.train_stats(0)
            rows.append(
                (launcher, processes, seconds, stats["summary"]["train_tokens"], stats["summary"]["train_loss"])
            )
    print(f"{args.samples} demo samples, global batch {args.batch}, SmolLM2-135M fp32, one interval each\n")
    print("| launcher | processes | train stage s | train tokens | tokens/s | mean loss |")
    print("|---|---|---|---|---|---|")
    for launcher, processes, seconds, tokens, loss in rows:
        print(f"| {launcher} | {processes} | {seconds:.1f} | {tokens:.0f} | {tokens / seconds:.0f} | {loss:.4f} |")
    print(f"\n- torchrun 2 processes vs 1: {rows[0][2] / rows[1][2]:.2f}x the stage's speed")


if __name__ == "__main__":
    main()
