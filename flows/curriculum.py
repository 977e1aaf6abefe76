"""The EDCO curriculum as a Prefect flow: score -> select -> fine-tune -> evaluate, per interval.

The flow passes only the run folder and interval numbers between tasks; each task reads its
inputs from the run store and writes its output there, so any interval can be resumed in a
fresh process.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import flow, get_run_logger
from transformers import PreTrainedTokenizerBase

from edco.config.schema import EdcoConfig, config_diff, load_config
from edco.data.drift import drift
from edco.data.kinds import kind_of
from edco.data.prompts import check_lengths
from edco.data.records import LoadResult, check_disjoint
from edco.datasets.readers import load_records
from edco.errors import ConfigError, DataError
from edco.evaluation.headline import best_of, better, check_metric, headline
from edco.faultpoints import fault_point
from edco.flows.resume import resume_point
from edco.models.loading import load_tokenizer
from edco.selection.strategies import interval_top_n
from edco.storage.lock import RunLock
from edco.storage.store import RunStore, default_root
from edco.tasks.evaluate import evaluate
from edco.tasks.score import score
from edco.tasks.select import select
from edco.tasks.track import track_failure, track_finish, track_interval, track_run
from edco.tasks.train import train
from edco.training.rewards import check_reward

LOG = logging.getLogger("edco")


@flow(name="edco-curriculum")
def curriculum(run_dir: str, parent_run_id: str | None = None) -> list[dict[str, Any]]:
    """Every unfinished interval of the run in `run_dir`; tracked under `parent_run_id` in a comparison."""
    logger = get_run_logger()
    store = RunStore(run_dir)
    intervals = store.config().curriculum.intervals
    start, notes = resume_point(store, intervals)
    for note in notes:
        logger.warning(note)
    if 0 < start < intervals:
        logger.info("resuming %s at interval %d; intervals 0-%d are finished", store.name, start, start - 1)
    track_run(run_dir, parent_run_id)
    for interval in range(start):  # catch up on logging cut short by a crash; no-op otherwise
        track_interval(run_dir, interval)
    try:
        for interval in range(start, intervals):
            run_interval(store, interval)
    except Exception:
        track_failure(run_dir)
        raise
    prune_checkpoints(
        store, store.config().storage.keep_checkpoints, intervals - 1
    )  # if a crash came before the last prune
    track_finish(run_dir, intervals - 1)
    return [store.metrics(i) for i in range(intervals)]


def run_interval(store: RunStore, interval: int) -> None:
    """The four stages, the seal that commits them, checkpoint pruning, and the interval's MLflow step."""
    run_dir = str(store.run_dir)
    score(run_dir, interval)
    select(run_dir, interval)
    train(run_dir, interval)
    evaluate(run_dir, interval)
    store.seal(interval)
    fault_point(f"seal.end@{interval}")
    prune_checkpoints(store, store.config().storage.keep_checkpoints, interval)
    metrics = store.metrics(interval)
    metric, value = headline(metrics)
    if not metrics.get("evaluate_tokens"):
        get_run_logger().info("interval %d: not evaluated (evaluation.every)", interval)
    else:
        answers = f", answers {metrics['predicted_letters']}" if "predicted_letters" in metrics else ""
        get_run_logger().info(
            "interval %d: %s %s (base %s; %s is better)%s",
            interval,
            metric,
            _shown(value),
            _shown(metrics.get(f"base_{metric}")),
            better(metric),
            answers,
        )
    track_interval(run_dir, interval)


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"  # a judge whose every reply was unparsed has no rate


def prune_checkpoints(store: RunStore, keep: str, last: int) -> None:
    """Apply storage.keep_checkpoints once interval `last` is sealed. The last checkpoint is always
    kept: the next interval, an extension with --force, or a resume starts from it."""
    if keep == "all":
        return
    kept = {last}
    if keep == "best":  # among the evaluated intervals; the last one always is
        metric, values = store.headline_values(range(last + 1))
        best = best_of(values, metric)
        kept.add(last if best is None else best)
    for interval in range(last + 1):
        if interval not in kept and not store.checkpoint_pruned(interval):
            store.prune_checkpoint(interval)


def create_or_check(cfg: EdcoConfig, force: bool = False) -> RunStore:
    """Create the run folder with frozen config and validated data, or check an existing one.

    Called with the run lock held. A changed config is refused unless forced, because the
    finished intervals were computed under the old one.
    """
    store = RunStore(Path(cfg.storage.root) / cfg.run_name)
    if store.exists():
        frozen = store.config()
        diff = config_diff(frozen, cfg)
        if diff and not force:
            raise ConfigError(
                f"run {cfg.run_name} exists with a different config:\n" + "\n".join(f"  {d}" for d in diff),
                hint="resume with the frozen config (edco resume), pick a new run_name, or pass --force",
            )
        if diff:
            _check_fits(cfg, store.pool(), load_tokenizer(cfg.model))
        if frozen.model_dump(exclude={"storage"}) != cfg.model_dump(exclude={"storage"}):  # forced, or a judge moved
            store.replace_config(cfg)
        for split in ("pool", "eval"):
            _note_source_change(cfg, store, split)
        return store
    pool, eval_set = (_load(cfg, split) for split in ("pool", "eval"))
    if pool.kind != eval_set.kind:
        raise DataError(
            f"the pool ({cfg.data.pool}) holds {pool.kind} records but the eval set ({cfg.data.eval}) {eval_set.kind} "
            "records",
            hint="evaluate on records of the pool's kind, or name it with data.kind",
        )
    check_disjoint(pool.table, eval_set.table)
    tokenizer = load_tokenizer(cfg.model)
    _check_fits(cfg, pool.table, tokenizer)
    for loaded in (pool, eval_set):
        check_lengths(loaded.table, tokenizer, cfg.model.max_length)
    store.create(cfg, pool.table, eval_set.table, pool.quarantined + eval_set.quarantined)
    return store


def _check_fits(cfg: EdcoConfig, pool: pa.Table, tokenizer: PreTrainedTokenizerBase) -> None:
    """Refuse, before anything is written or trained, settings the pool's records cannot serve: a
    headline metric or GRPO reward of another kind, a user reward that does not work, a top_n
    larger than the pool."""
    check_metric(cfg, kind_of(pool))
    if cfg.training.method == "grpo":
        check_reward(cfg.training, pool, tokenizer)
    interval_top_n(cfg, len(pool))


def _note_source_change(cfg: EdcoConfig, store: RunStore, split: str) -> None:
    """Say once, when a run continues, that the file its pool or eval set was read from has changed
    since (and how), and that the run keeps its frozen snapshot: right, but not silent."""
    source = cfg.data.pool if split == "pool" else cfg.data.eval
    if not Path(source).is_file():  # the built-in generator, a hub dataset: nothing on disk to compare
        return
    snapshot = store.pool() if split == "pool" else store.eval_set()
    try:
        found = drift(snapshot, _load(cfg, split).table).describe()
    except DataError as exc:
        found = f"it no longer loads ({str(exc).splitlines()[0]})"
    if found:
        LOG.warning(
            "the %s source %s differs from the run's snapshot (%s): the run keeps using its snapshot, %s",
            split,
            source,
            found,
            store.run_dir / ("pool.parquet" if split == "pool" else "eval.parquet"),
        )


def _load(cfg: EdcoConfig, split: str) -> LoadResult:
    return load_records(
        cfg.data.pool if split == "pool" else cfg.data.eval,
        cfg.data.columns,
        limit=cfg.data.limit if split == "pool" else cfg.data.eval_limit,
        seed=cfg.data.seed,
        split=split,
        skip_invalid=cfg.data.skip_invalid,
        kind=cfg.data.kind,
    )


def run_curriculum(cfg: EdcoConfig, force: bool = False) -> tuple[RunStore, list[dict[str, Any]]]:
    """The whole run under the run lock: create or check, then the flow."""
    run_dir = Path(cfg.storage.root) / cfg.run_name
    with RunLock(run_dir):
        store = create_or_check(cfg, force)
        return store, curriculum(str(store.run_dir))


@flow(name="edco-run")
def edco_run(config_path: str, root: str | None = None, force: bool = False) -> list[dict[str, Any]]:
    """Deployment entry point (prefect.yaml `edco-curriculum`): a whole run from a config file, like
    `edco run CONFIG [--root ROOT] [--force]`; an existing run with the same config continues."""
    cfg = load_config(config_path)
    return run_curriculum(cfg.with_root(Path(root)) if root else cfg, force)[1]


@flow(name="edco-resume")
def edco_resume(run_name: str, root: str | None = None) -> list[dict[str, Any]]:
    """Deployment entry point (prefect.yaml `edco-resume`): `edco resume RUN [--root ROOT]`, i.e. the
    run's frozen config from its first unfinished interval (flows/resume.py decides which)."""
    store = RunStore.open(Path(root) if root else default_root(), run_name)
    return run_curriculum(store.config())[1]
