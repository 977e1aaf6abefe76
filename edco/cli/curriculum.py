"""`edco run`, `edco resume`, `edco compare`: the commands that train, and the table they print."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from edco.cli import output
from edco.cli.output import RootOption
from edco.cli.progress import showing_progress
from edco.cli.query import run_table
from edco.errors import EdcoError

if TYPE_CHECKING:  # the CLI imports heavy modules only inside the command that needs them
    from edco.config.schema import EdcoConfig


def run(
    config: Annotated[Path, typer.Argument(help="YAML config, e.g. configs/demo.yaml.")],
    root: RootOption = None,
    force: Annotated[bool, typer.Option("--force", help="Continue an existing run under a changed config.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress, only the result.")] = False,
) -> None:
    """Run a curriculum; an existing run with the same config continues where it stopped."""
    from edco.config.schema import load_config

    cfg = load_config(config)
    _execute(cfg.with_root(root) if root else cfg, force, quiet)


def resume(
    run_name: Annotated[str, typer.Argument(metavar="RUN", help="Run name inside the store.")],
    root: RootOption = None,
    config: Annotated[
        Optional[Path], typer.Option("--config", help="Check this config against the frozen one.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Continue under --config even if it differs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress, only the result.")] = False,
) -> None:
    """Continue a run at its first unfinished interval, with its frozen config."""
    from edco.config.schema import load_config
    from edco.storage.store import RunStore

    store = RunStore.open(output.store_root(root), run_name)
    cfg = load_config(config).with_root(store.run_dir.parent) if config else store.config()
    if cfg.run_name != run_name:
        raise EdcoError(f"--config is for run '{cfg.run_name}', not '{run_name}'")
    _execute(cfg, force, quiet)


def _execute(cfg: EdcoConfig, force: bool, quiet: bool) -> None:
    output.quiet_libraries()
    _warn_of_precision(cfg)
    from edco.cli.interrupts import stoppable
    from edco.flows.api import prefect_api
    from edco.flows.curriculum import run_curriculum
    from edco.tracking.mlflow_runs import tracking_uri

    resume = f"edco resume {cfg.run_name} --root {cfg.storage.root}"
    with stoppable(resume, partial(_mark_stopped, cfg)) as lost, prefect_api(lost), showing_progress(quiet):
        store, _ = run_curriculum(cfg, force)
    output.console.print(run_table(store.run_dir.parent, store.name))
    root = store.run_dir.parent
    output.console.print(f"run folder: {store.run_dir}")
    output.console.print(
        f"query it:   edco sql --root {root} \"SELECT * FROM turnover WHERE run = '{store.name}' ORDER BY interval\""
    )
    output.console.print(f"browse it:  edco ui --root {root}    (MLflow at {tracking_uri(cfg)})")


def _warn_of_precision(cfg: EdcoConfig) -> None:
    from edco.models.devices import precision_warning

    warning = precision_warning(cfg.model)
    if warning:
        output.print_warning(warning)


def _mark_stopped(cfg: EdcoConfig, status: str) -> None:
    from edco.storage.store import RunStore
    from edco.tracking.mlflow_runs import MlflowTracker

    store = RunStore(Path(cfg.storage.root) / cfg.run_name)
    if store.exists():
        MlflowTracker(store).stop(status)


def compare(
    config: Annotated[Path, typer.Argument(help="Base YAML config; members differ only in strategy and seed.")],
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies.")] = "edco,random",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    root: RootOption = None,
    force: Annotated[bool, typer.Option("--force", help="Continue members whose frozen config differs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress, only the result.")] = False,
    baseline: Annotated[str, typer.Option(help="The strategy every other one is compared with.")] = "random",
    effect: Annotated[
        float, typer.Option(help="The difference whose cost in eval items and seeds is stated (0.05 = 5 points).")
    ] = 0.05,
    plan: Annotated[
        bool,
        typer.Option(
            "--plan", help="Run nothing: read the finished comparison and print the size needed for --effect."
        ),
    ] = False,
) -> None:
    """Run every (strategy, seed) with the same budget and compare them to the baseline: paired
    differences on the same eval items with bootstrap intervals, the minimum detectable effect, and
    compute cost."""
    from edco.config.schema import load_config

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    seed_list = output.int_list("--seeds", seeds)
    if not effect > 0:
        raise EdcoError(f"--effect must be a positive difference (0.05 = 5 points), not {effect}")
    cfg = load_config(config)
    cfg = cfg.with_root(root) if root else cfg
    if plan:
        from edco.flows.compare import plan_comparison

        text = plan_comparison(cfg, names, seed_list, baseline, effect)
        output.console.print(text, markup=False, highlight=False)
        return
    output.quiet_libraries()
    _warn_of_precision(cfg)
    from edco.cli.interrupts import stoppable
    from edco.flows.api import prefect_api
    from edco.flows.compare import REPORT, run_comparison

    again = f"edco compare {config} --strategies {','.join(names)} --seeds {seeds} --baseline {baseline}"
    stop = partial(_mark_comparison_stopped, cfg, names, seed_list)
    with stoppable(again, stop) as lost, prefect_api(lost), showing_progress(quiet):
        folder = run_comparison(cfg, names, seed_list, force, baseline, effect)
    output.console.print((folder / "comparison.md").read_text(), markup=False, highlight=False)
    output.console.print(f"report: {folder}/{', '.join(REPORT)}")


def _mark_comparison_stopped(cfg: EdcoConfig, strategies: list[str], seeds: list[int], status: str) -> None:
    """The running member and the comparison's parent run; finished members stay FINISHED."""
    from edco.reporting.comparison import members
    from edco.tracking.mlflow_runs import MlflowComparison

    for member in members(cfg, strategies, seeds):
        _mark_stopped(member.cfg, status)
    MlflowComparison(cfg, cfg.run_name).stop(status)
