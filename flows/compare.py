"""`edco compare`: every (strategy, seed) member as a Prefect subflow under one parent MLflow run.

Members are ordinary curriculum runs in the store, so a member that finished is reused as it
is, and a comparison that crashed resumes member by member, interval by interval. The report
(Markdown, CSV, PNG) is written into `<root>/comparisons/<run_name>/` and attached to the
parent MLflow run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from edco.config.schema import EdcoConfig, flatten
from edco.flows.curriculum import create_or_check, curriculum
from edco.reporting import comparison
from edco.storage.files import atomic_write, write_json
from edco.storage.lock import RunLock
from edco.tracking.mlflow_runs import MlflowComparison

REPORT = ("comparison.md", "comparison.csv", "accuracy.png")


def comparison_dir(base: EdcoConfig) -> Path:
    return Path(base.storage.root) / "comparisons" / base.run_name


@flow(name="edco-compare")
def compare_strategies(base: EdcoConfig, strategies: list[str], seeds: list[int], force: bool = False) -> str:
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
            run_dir = Path(member.cfg.storage.root) / member.cfg.run_name
            with RunLock(run_dir):
                store = create_or_check(member.cfg, force)
                runs[member.strategy, member.seed] = curriculum(str(store.run_dir), parent)
    except Exception:
        tracker.fail(parent)
        raise
    rows = comparison.summarize(runs)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(
        folder / "comparison.json",
        {"strategies": strategies, "seeds": seeds, "members": [m.cfg.run_name for m in members], "rows": rows},
    )
    atomic_write(folder / "comparison.md", lambda tmp: tmp.write_text(comparison.to_markdown(rows)))
    atomic_write(folder / "comparison.csv", lambda tmp: tmp.write_text(comparison.to_csv(rows)))
    atomic_write(folder / "accuracy.png", lambda tmp: comparison.plot(runs, tmp))
    tracker.finish(parent, [folder / name for name in REPORT])
    return str(folder)


def run_comparison(base: EdcoConfig, strategies: list[str], seeds: list[int], force: bool = False) -> Path:
    """The whole comparison under its own lock, so two `edco compare` of one config never interleave."""
    comparison.members(base, strategies, seeds)  # an unknown strategy fails here, before Prefect starts
    with RunLock(comparison_dir(base)):
        return Path(compare_strategies(base, strategies, seeds, force))
