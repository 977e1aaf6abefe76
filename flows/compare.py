"""`edco compare`: every (strategy, seed) member as a Prefect subflow under one parent MLflow run.

Members are ordinary curriculum runs in the store, so a member that finished is reused as it
is, and a comparison that crashed resumes member by member, interval by interval. The report
(Markdown, CSV, PNG) is written into `<root>/comparisons/<run_name>/` and attached to the
parent MLflow run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow, get_run_logger

from edco.config.schema import EdcoConfig, flatten
from edco.errors import StoreError
from edco.evaluation.headline import headline
from edco.flows.curriculum import create_or_check, curriculum
from edco.reporting import comparison
from edco.storage.files import atomic_write, write_json
from edco.storage.lock import RunLock
from edco.storage.store import NOT_FINISHED, STAGE_OUTPUTS, RunStore
from edco.tracking.mlflow_runs import MlflowComparison

REPORT = ("comparison.md", "comparison.csv", "curves.png")


def comparison_dir(base: EdcoConfig) -> Path:
    return Path(base.storage.root) / "comparisons" / base.run_name


@flow(name="edco-compare")
def compare_strategies(
    base: EdcoConfig,
    strategies: list[str],
    seeds: list[int],
    force: bool = False,
    baseline: str = comparison.BASELINE,
    effect: float = comparison.EFFECT,
) -> str:
    """Run (or resume, or reuse) every member, then summarise; returns the report folder."""
    logger = get_run_logger()
    folder = comparison_dir(base)
    members = comparison.members(base, strategies, seeds)
    tracker = MlflowComparison(base, base.run_name)
    parent = tracker.start(
        {"strategies": ",".join(strategies), "seeds": ",".join(map(str, seeds)), **flatten(base.identity())}
    )
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    try:
        for i, member in enumerate(members, 1):
            logger.info("member %d/%d: %s", i, len(members), member.cfg.run_name)
            with RunLock(_store(member).run_dir):
                store = create_or_check(member.cfg, force)
                runs[member.strategy, member.seed] = curriculum(str(store.run_dir), parent)
    except Exception:
        tracker.fail(parent)
        raise
    items = {(m.strategy, m.seed): member_items(_store(m)) for m in members}
    rows = comparison.summarize(runs, items, baseline, effect)
    categories = comparison.category_rows(items, strategies, baseline, rows[0]["metric"])
    environments = {m.cfg.run_name: _store(m).environments() for m in members}
    folder.mkdir(parents=True, exist_ok=True)
    write_json(
        folder / "comparison.json",
        {
            "strategies": strategies,
            "seeds": seeds,
            "baseline": baseline,
            "effect": effect,
            "members": [m.cfg.run_name for m in members],
            "rows": rows,
            "categories": categories,
            "environments": environments,
        },
    )
    markdown = comparison.to_markdown(rows, categories, environments)
    atomic_write(folder / "comparison.md", lambda tmp: tmp.write_text(markdown))
    atomic_write(folder / "comparison.csv", lambda tmp: tmp.write_text(comparison.to_csv(rows)))
    atomic_write(folder / "curves.png", lambda tmp: comparison.plot(runs, tmp))
    tracker.finish(parent, [folder / name for name in REPORT])
    return str(folder)


def run_comparison(
    base: EdcoConfig,
    strategies: list[str],
    seeds: list[int],
    force: bool = False,
    baseline: str = comparison.BASELINE,
    effect: float = comparison.EFFECT,
) -> Path:
    """The whole comparison under its own lock, so two `edco compare` of one config never interleave."""
    comparison.members(base, strategies, seeds, baseline)  # bad strategies fail here, before Prefect starts
    with RunLock(comparison_dir(base)):
        return Path(compare_strategies(base, strategies, seeds, force, baseline, effect))


def plan_comparison(
    base: EdcoConfig,
    strategies: list[str],
    seeds: list[int],
    baseline: str = comparison.BASELINE,
    effect: float = comparison.EFFECT,
) -> str:
    """What a finished pilot comparison says about the size a comparison needs: read from the
    members' stored per-item results, nothing run (no Prefect, no model)."""
    members = comparison.members(base, strategies, seeds, baseline)
    stores = {(m.strategy, m.seed): _store(m) for m in members}
    problems = [f"{store.run_dir}: {problem}" for store in stores.values() if (problem := _unreadable(store))]
    if problems:
        raise StoreError(
            f"--plan reads a finished comparison; these members are not finished or not intact: {'; '.join(problems)}",
            hint="run the comparison first (the same command without --plan), or name the seeds and strategies it ran",
        )
    items = {key: member_items(store) for key, store in stores.items()}
    return comparison.plan(items, strategies, baseline, _metric(next(iter(stores.values()))), effect)


def member_items(store: RunStore) -> pa.Table:
    """The trained model's per-item results of the member's last interval (empty for members
    evaluated before per-item results were kept)."""
    table = store.eval_items(store.config().curriculum.intervals - 1)
    return table.filter(pc.equal(table["model"], "trained"))


def _store(member: comparison.Member) -> RunStore:
    return RunStore(Path(member.cfg.storage.root) / member.cfg.run_name)


def _unreadable(store: RunStore) -> str | None:
    """What keeps `--plan` from reading a member: its last interval's evaluation (all it reads)
    not sealed or not intact; None when readable."""
    if not store.exists():
        return NOT_FINISHED
    outputs = [output.name for output in STAGE_OUTPUTS["evaluate"]]
    return store.interval_problem(store.config().curriculum.intervals - 1, outputs)


def _metric(store: RunStore) -> str:
    return headline(store.metrics(store.config().curriculum.intervals - 1))[0]
