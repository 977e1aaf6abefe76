"""The entropy scorer on a Ray cluster: the pool's batches spread over `scoring.workers` actors,
each loading the model once, with the same batch plan and per-batch seeds as the local scorer.

Why actors rather than Ray tasks or `prefect-ray`'s task runner: a task would load the model for
every batch (prefect-ray makes each Prefect task a stateless Ray function, and its remote tasks
cannot always reach the Prefect API). The score stage stays one Prefect task; Ray only runs its
inner loop.

What is identical and what is not: a batch's scores depend on its prompts, its seed
(`edco.scoring.entropy.batch_seed`) and the actor's torch thread count, never on which actor
scored it, in what order, or whether it is a retry after its actor died; so with equal thread
counts Ray's scores equal the local scorer's bit for bit. A different thread count changes how
float sums are split (about 1e-7 here).

Fault tolerance: an actor whose process dies is restarted (`ray.max_restarts`) and the batch it
was scoring is retried (`ray.max_task_retries`); a batch still failing after that fails the
stage with one error naming its samples. Results join back by sample id with a check that every
sample was scored exactly once: a duplicate (a retried batch that had already answered) is
dropped, a missing one is an error that names it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
from transformers import PreTrainedTokenizerBase

from edco.config.schema import ModelConfig, RayConfig, ScoringConfig
from edco.errors import ConfigError, EdcoError
from edco.models.devices import resolve_placement
from edco.progress import Progress
from edco.scoring.entropy import batch_plan, batch_seed, entropy_rows

DEFAULT_ACTOR_THREADS = 1


class ScoringError(EdcoError):
    """Scoring on the cluster failed for good (after restarts and retries)."""

    hint = "nothing of this stage was written; fix the cause and resume the run (finished intervals are kept)"


class Scorer:
    """One Ray actor: the model loaded once, scoring whole batches of prompts."""

    def __init__(self, model: ModelConfig, checkpoint: str | None, threads: int) -> None:
        import torch

        from edco.models.loading import load_model, load_tokenizer

        torch.set_num_threads(threads)
        self.model = load_model(model, Path(checkpoint) if checkpoint else None)
        self.tokenizer = load_tokenizer(model)

    def score(
        self, batch: int, ids: list[str], prompts: list[str], cfg: ScoringConfig, seed: int | None
    ) -> tuple[int, list[str], list[tuple[float, int]], str]:
        import ray

        from edco.faultpoints import fault_point
        from edco.scoring.entropy import score_batch

        fault_point(f"ray.batch@{batch}")  # crash tests: this actor's process dies with the batch unscored
        pairs = score_batch(self.model, self.tokenizer, prompts, cfg, seed)
        return batch, ids, pairs, ray.get_runtime_context().get_node_id()

    def pid(self) -> int:
        return os.getpid()


def require_ray() -> None:
    """A clear error when Ray is not installed (it is an extra: `pip install 'edco[ray]'`)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError(
            "scoring.backend 'ray' needs Ray, which is not installed", hint="pip install 'edco[ray]'"
        ) from None


def score_table(
    model: ModelConfig,
    checkpoint: Path | None,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    cfg: ScoringConfig,
    cluster: RayConfig,
    seed: int | None,
    progress: Progress | None = None,
) -> pa.Table:
    """`edco.scoring.entropy.score_table`, its batches scored by Ray actors."""
    require_ray()
    from ray.util import ActorPool

    prompts, lengths, batches = batch_plan(tokenizer, records, cfg.instruction, cfg.batch_size)
    ids = records["id"].to_pylist()
    jobs = [
        (k, [ids[i] for i in idx], [prompts[i] for i in idx], cfg, batch_seed(seed, k)) for k, idx in enumerate(batches)
    ]
    scored: dict[str, tuple[float, int]] = {}
    nodes: set[str] = set()
    with ray_session(cluster, cfg):
        actors = start_scorers(model, checkpoint, cfg, cluster)
        pool = ActorPool(actors)
        results = pool.map_unordered(lambda actor, job: actor.score.remote(*job), jobs)
        for _, batch_ids, pairs, node in _checked(results, jobs):
            nodes.add(node)
            for sample, pair in zip(batch_ids, pairs):
                scored.setdefault(sample, pair)  # a retried batch that had already answered: dropped
            if progress:
                progress(len(scored), len(ids))
    missing = [sample for sample in ids if sample not in scored]
    if missing:
        raise ScoringError(f"{len(missing)} pool sample(s) came back unscored from Ray: {', '.join(missing[:10])}")
    table = entropy_rows(records, lengths, [scored[sample] for sample in ids], cfg)
    return table.replace_schema_metadata({b"ray_nodes": str(len(nodes)).encode()})  # how many nodes scored


def _checked(
    results: Iterator[Any], jobs: list[tuple]
) -> Iterator[tuple[int, list[str], list[tuple[float, int]], str]]:
    """The actors' results, a batch that failed for good turned into one clear error."""
    from ray.exceptions import RayError

    done: set[int] = set()
    try:
        for result in results:
            done.add(result[0])
            yield result
    except RayError as exc:
        pending = [job for job in jobs if job[0] not in done]
        first = pending[0][1][0] if pending and pending[0][1] else "?"
        raise ScoringError(
            f"scoring on Ray failed for good after its restarts and retries, {len(pending)} batch(es) unscored "
            f"(the first holds sample {first}): {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        ) from None


def start_scorers(model: ModelConfig, checkpoint: Path | None, cfg: ScoringConfig, cluster: RayConfig) -> list[Any]:
    """`cfg.workers` scorer actors, ready: one GPU each when the model runs on a GPU, else `threads` CPUs each."""
    import ray

    gpu = resolve_placement(model).device.type == "cuda"
    threads = cfg.threads or DEFAULT_ACTOR_THREADS
    actor = ray.remote(Scorer).options(
        num_gpus=1 if gpu else 0,
        num_cpus=0 if gpu else threads,
        max_restarts=cluster.max_restarts,
        max_task_retries=cluster.max_task_retries,
        scheduling_strategy="SPREAD",  # over the cluster's nodes: losing one node loses the fewest scorers
    )
    actors = [actor.remote(model, str(checkpoint) if checkpoint else None, threads) for _ in range(cfg.workers)]
    try:
        ray.get([a.pid.remote() for a in actors])  # every model loaded before the first batch: batches spread over all
    except ray.exceptions.RayError as exc:
        raise ScoringError(f"a scorer actor could not start: {type(exc).__name__}: {str(exc)[:300]}") from None
    return actors


@contextmanager
def ray_session(cluster: RayConfig, cfg: ScoringConfig) -> Iterator[None]:
    """Connected to `cluster.address`, or a local Ray started for the stage and stopped after it.

    A local Ray is given exactly the CPUs its actors ask for, so that all of them start."""
    import ray

    if ray.is_initialized():  # a caller (a benchmark, a test) already holds a session
        yield
        return
    local = cluster.address is None
    cpus = cfg.workers * (cfg.threads or DEFAULT_ACTOR_THREADS)
    # "local": a new Ray, never one that `ray start` left behind (ray.init alone would join it)
    options: dict[str, Any] = {"address": "local", "num_cpus": cpus} if local else {"address": cluster.address}
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **options)
    try:
        yield
    finally:
        ray.shutdown()  # stops a local Ray; only disconnects from an existing cluster
