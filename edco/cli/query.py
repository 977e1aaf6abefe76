"""Commands that read the store: SQL, the run list, one run's table and turnover, reports, the MLflow UI."""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from edco.cli import output
from edco.cli.output import RootOption
from edco.errors import EdcoError, StoreError
from edco.evaluation.headline import better, headline


def sql(
    query: Annotated[
        str, typer.Argument(help="One SELECT over the views scores, metrics, eval_items, turnover, judge_verdicts.")
    ],
    root: RootOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Read-only DuckDB SQL across every run in the store."""
    if fmt not in ("table", "csv", "json"):
        raise EdcoError(f"--format must be table, csv or json, not {fmt!r}")
    store = output.store_root(root)
    if not store.is_dir():  # a mistyped --root would otherwise answer as a store without runs
        from edco.storage.store import NO_RUN_HINT

        raise StoreError(f"store {store} does not exist (or is not a folder)", hint=NO_RUN_HINT)
    print_sql(store, query, fmt=fmt)


def print_sql(root: Path, sql: str, params: list[object] | None = None, fmt: str = "table") -> None:
    from edco.storage.sql import query

    result = query(root, sql, params)
    if fmt == "json":
        sys.stdout.write(json.dumps(result.to_pylist(), default=str, indent=1) + "\n")
    elif fmt == "csv":
        import io

        import pyarrow.csv as pacsv

        sink = io.BytesIO()
        pacsv.write_csv(result, sink)
        sys.stdout.write(sink.getvalue().decode())
    else:
        table = Table()
        for name in result.column_names:
            table.add_column(name)
        for row in result.to_pylist():
            table.add_row(*("" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v) for v in row.values()))
        output.console.print(table)


def runs(root: RootOption = None) -> None:
    """List the store's runs: status, intervals done, the headline metric (base, best), MLflow run id."""
    from edco.storage.catalog import list_runs
    from edco.storage.store import RunStore
    from edco.tracking.mlflow_runs import MlflowTracker

    table = Table(title=f"runs in {output.store_root(root)}")
    for column in ("run", "status", "intervals", "strategy", "method", "metric", "base", "best", "MLflow run"):
        table.add_column(column)
    for entry in list_runs(output.store_root(root)):
        mlflow_id = MlflowTracker(RunStore(output.store_root(root) / entry.run)).find_run()
        table.add_row(
            entry.run,
            entry.status,
            f"{entry.finished}/{entry.intervals}",
            entry.strategy,
            entry.method,
            f"{entry.metric} ({better(entry.metric)} is better)",
            output.cell(entry.base),
            output.cell(entry.best),
            mlflow_id or "",
        )
    output.console.print(table)


def show(run_name: Annotated[str, typer.Argument(metavar="RUN")], root: RootOption = None) -> None:
    """The run's per-interval table: accuracy, signal of selection and pool, turnover, stage seconds."""
    from edco.storage.store import RunStore

    RunStore.open(output.store_root(root), run_name)
    output.console.print(run_table(output.store_root(root), run_name))


def run_table(root: Path, run_name: str) -> Table:
    """The table `edco show` prints, and `edco run` at its end: the same columns on a terminal or off one,
    since both read the metrics and turnover views rather than what the flow returned."""
    from edco.storage.sql import query

    metrics = query(root, "SELECT * FROM metrics WHERE run = ? ORDER BY interval", [run_name]).to_pylist()
    turnover = {t["interval"]: t for t in query(root, "SELECT * FROM turnover WHERE run = ?", [run_name]).to_pylist()}
    return interval_table(run_name, [{**m, **turnover.get(m["interval"], {})} for m in metrics])


_COLUMNS = {  # metrics.json key -> column; a column appears when some interval has a value (GRPO's for GRPO runs)
    "accuracy": "accuracy",
    "base_accuracy": "base",
    "reference_nll": "reference NLL",
    "base_reference_nll": "base NLL",
    "rouge_l": "ROUGE-L",
    "base_rouge_l": "base ROUGE-L",
    "token_f1": "token F1",
    "base_token_f1": "base token F1",
    "exact_match": "exact match",
    "base_exact_match": "base exact match",
    "judge_accuracy": "judge yes",
    "base_judge_accuracy": "base judge yes",
    "judge_unparsed": "judge unparsed",
    "top_answer_share": "top answer share",
    "selected_signal_mean": "selected signal",
    "pool_signal_mean": "pool signal",
    "new": "new",
    "retained": "retained",
    "returned": "returned",
    "train_loss": "train loss",
    "reward_mean": "reward",
    "reward_std": "reward std",
    "frac_reward_zero_std": "equal-reward groups",
    "no_answer_frac": "no answer",
    "kl": "KL",
    "completion_length": "completion tokens",
}


def interval_table(run: str, metrics: list[dict]) -> Table:
    """One row per interval: what the curriculum measured, what training reported, and the stages' seconds."""
    keys = [key for key in _COLUMNS if any(m.get(key) is not None for m in metrics)]
    metric = headline(metrics[0])[0] if metrics else "accuracy"
    table = Table(title=f"run {run}", caption=f"headline: {metric} ({better(metric)} is better)")
    for column in ("interval", *(_COLUMNS[k] for k in keys), "seconds"):
        table.add_column(column, justify="right")
    for m in metrics:
        seconds = sum(m[f"{s}_seconds"] for s in ("score", "select", "train", "evaluate"))
        table.add_row(str(m["interval"]), *(output.cell(m.get(k)) for k in keys), f"{seconds:.1f}")
    return table


def turnover(run_name: Annotated[str, typer.Argument(metavar="RUN")], root: RootOption = None) -> None:
    """Which selected samples are new, retained from the last interval, or returning, per interval."""
    from edco.storage.store import RunStore

    RunStore.open(output.store_root(root), run_name)
    print_sql(
        output.store_root(root),
        "SELECT interval, selected, new, retained, returned FROM turnover WHERE run = ? ORDER BY interval",
        [run_name],
    )


def report(
    run_name: Annotated[str, typer.Argument(metavar="RUN", help="Run name inside the store.")],
    root: RootOption = None,
    out: Annotated[
        Optional[Path], typer.Option(help="Write the page and plots here instead (a store on read-only media).")
    ] = None,
) -> None:
    """Write a run's plots and a self-contained HTML page into <root>/<run>/report/ (or --out)."""
    from edco.storage.report import build_report

    page = build_report(output.store_root(root), run_name, out)
    output.console.print(str(page), markup=False, highlight=False)


def ui(
    root: RootOption = None,
    host: Annotated[str, typer.Option(help="Bind address; loopback unless you mean to expose it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 5000,
    allowed_hosts: Annotated[
        Optional[str],
        typer.Option(help="MLflow's allowed Host headers (comma-separated), for a UI reached by name from elsewhere."),
    ] = None,
) -> None:
    """Open the MLflow UI on the store's tracking database."""
    from edco.tracking.mlflow_runs import open_store_ui

    store = output.store_root(root).resolve()
    if not (store / "mlflow.db").exists():
        raise EdcoError(f"no MLflow database at {store / 'mlflow.db'}; run a curriculum first or pass --root")
    if not _loopback(host):
        output.errors.print(
            f"warning: the MLflow UI has no authentication, and --host {host} opens it to every network that "
            "reaches this machine; MLflow answers only the Host headers it allows (localhost and private IPs "
            "unless --allowed-hosts names others)",
            markup=False,
        )
    db = open_store_ui(store)
    if db.parent != store:
        output.errors.print(f"the store is read-only: the UI reads a private copy of its records, {db}", markup=False)
    output.console.print(f"MLflow UI at http://{host}:{port} (Ctrl-C to stop)")
    os.execv(sys.executable, mlflow_ui_command(db, host, port, allowed_hosts))


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        return False


def mlflow_ui_command(db: Path, host: str, port: int, allowed_hosts: str | None = None) -> list[str]:
    """`mlflow ui` on the tracking database `db`."""
    allowed = ["--allowed-hosts", allowed_hosts] if allowed_hosts else []
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--host",
        host,
        "--port",
        str(port),
        *allowed,
    ]


def config_docs() -> None:
    """Print the configuration reference (docs/CONFIG.md) generated from the config schema."""
    from edco.config.reference import config_reference

    sys.stdout.write(config_reference())
