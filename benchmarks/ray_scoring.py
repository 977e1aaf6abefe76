"""Scoring on Ray against scoring in the stage's process: what do the actors cost and buy on this machine?

The same pool, batch plan and per-batch seeds are scored five ways: locally with 2 torch threads
and with 1, on 1 actor x 2 threads, on 1 actor x 1 thread, and on 2 actors x 1 thread. Ray's
start-up (a local Ray plus its actors loading the model) is timed in a session of its own; a
second session's whole time less that start-up is its scoring. The ratios the issue asks for are
1 actor x 2 threads vs local 2 threads (Ray's per-batch overhead, goal >= 0.95x) and 2 actors x
1 thread vs 1 actor x 1 thread (scaling over actors, goal >= 1.8x on 2 cores). A sixth way runs
the 2 actors on a 2-node cluster of `ray start` nodes on this machine (SPREAD puts one actor on
each): what crossing nodes costs against one Ray. Every way's scores are checked against local
scoring at the same thread count (bit-identical). Prints Markdown.

    .venv/bin/python -m benchmarks.ray_scoring [--samples 48] [--batch 8]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from benchmarks.harness import add_demo_args, benchmark_parser, model_and_tokenizer, pool_records
from edco.config.schema import ModelConfig, RayConfig, ScoringConfig, updated
from edco.models.devices import torch_threads
from edco.scoring import ray_scoring
from edco.scoring.entropy import score_table

SEED = 0
T = TypeVar("T")
CLUSTER = "Ray 2-node cluster (`ray start`, 1 CPU per node), 2 actors x 1 thread"


def main() -> None:
    parser = benchmark_parser(__doc__)
    add_demo_args(parser, samples=48, batch=8, repeats=1)
    args = parser.parse_args()
    model_cfg = ModelConfig()
    model, tokenizer = model_and_tokenizer(model_cfg)
    pool = pool_records("demo", args.samples)
    base = ScoringConfig(mode="prefix", prefix_tokens=4, batch_size=args.batch)
    score_table(model, tokenizer, pool.slice(0, args.batch), base)  # warm-up, not timed
    # The cluster first: after the local Rays, in the same driver, its actors died before they
    # started (ActorDiedError; cause not found: the local Rays use token authentication, it does not).
    cfg = updated(base, backend="ray", workers=2, threads=1)
    started = _timed_cluster(
        lambda address: ray_scoring.start_scorers(model_cfg, None, cfg, RayConfig(address=address))
    )
    total, cluster_table = _timed_cluster(
        lambda address: ray_scoring.score_table(model_cfg, None, tokenizer, pool, cfg, RayConfig(address=address), SEED)
    )
    nodes = int(cluster_table.schema.metadata[b"ray_nodes"])
    cluster_row = (CLUSTER, started[0], total - started[0])
    local = {}
    for threads in (2, 1):
        with torch_threads(threads):
            begin = time.perf_counter()
            table = score_table(model, tokenizer, pool, base, seed=SEED)
            local[threads] = (time.perf_counter() - begin, table)
    rows = [(f"local, {t} thread{'s' if t > 1 else ''}", 0.0, seconds, True) for t, (seconds, _) in local.items()]
    for workers, threads in ((1, 2), (1, 1), (2, 1)):
        cfg = updated(base, backend="ray", workers=workers, threads=threads)
        started = _timed_session(cfg, lambda cfg=cfg: ray_scoring.start_scorers(model_cfg, None, cfg, RayConfig()))[0]
        total, table = _timed_session(
            cfg, lambda cfg=cfg: ray_scoring.score_table(model_cfg, None, tokenizer, pool, cfg, RayConfig(), SEED)
        )
        name = f"Ray, {workers} actor{'s' if workers > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}"
        rows.append((name, started, total - started, table["score"].equals(local[threads][1]["score"])))
    rows.append((*cluster_row, cluster_table["score"].equals(local[1][1]["score"])))
    by = {name: seconds for name, _, seconds, _ in rows}
    print(f"{args.samples} demo samples, prefix 4, batch {args.batch}, SmolLM2-135M fp32, one run each\n")
    print("| scorer | start-up s (Ray + models) | scoring s | samples/s | scores equal local at its threads |")
    print("|---|---|---|---|---|")
    for name, started, seconds, same in rows:
        print(f"| {name} | {started:.1f} | {seconds:.1f} | {args.samples / seconds:.2f} | {'yes' if same else 'NO'} |")
    print()
    one, two = by["Ray, 1 actor x 1 thread"], by["Ray, 2 actors x 1 thread"]
    print(f"- 1 actor x 2 threads vs local 2 threads: {by['local, 2 threads'] / by['Ray, 1 actor x 2 threads']:.2f}x")
    print(f"- 2 actors x 1 thread vs 1 actor x 1 thread: {one / two:.2f}x")
    print(
        f"- 2-node cluster ({nodes} nodes scored) vs one local Ray, 2 actors x 1 thread each: {two / by[CLUSTER]:.2f}x"
    )


def _timed_cluster(work: Callable[[str], T]) -> tuple[float, T]:
    """`work(address)` timed on a fresh 2-node cluster of 1 CPU per node (the nodes' start not included)."""
    from tests.ray_cluster import two_nodes

    with two_nodes(head_cpus=1, worker_cpus=1) as (address, _):
        begin = time.perf_counter()
        result = work(address)
        return time.perf_counter() - begin, result


def _timed_session(cfg: ScoringConfig, work: Callable[[], T]) -> tuple[float, T]:
    """`work` timed in a fresh local Ray of the actors' CPUs (the Ray start itself included)."""
    import ray

    begin = time.perf_counter()
    ray.init(address="local", num_cpus=cfg.workers * cfg.threads, include_dashboard=False, log_to_driver=False)
    try:
        result = work()
        return time.perf_counter() - begin, result
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
