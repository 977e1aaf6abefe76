"""`edco` command line: the only module of the core package that sits on top of the others.

Every command takes argv and returns an exit code (tests call `main([...])`); expected
failures print one line and a hint and exit 2, `--debug` shows the traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from typer.exceptions import TyperException

from edco.errors import EdcoError

if TYPE_CHECKING:  # the CLI imports heavy modules only inside the command that needs them
    from edco.config import EdcoConfig
    from tasks.stage import StageProgress

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Entropy-based Dynamic Curriculum Orchestration.")
data_app = typer.Typer(no_args_is_help=True, help="Data utilities.")
app.add_typer(data_app, name="data")
bench_app = typer.Typer(no_args_is_help=True, help="Measurements on your model and data (docs/BENCHMARKS.md).")
app.add_typer(bench_app, name="bench")
# Long command lines stay copy-pasteable (soft wrap), and off a terminal (logs, pipes, CI) wide
# tables keep every column instead of squeezing into rich's default 80 characters.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 240)
errors = Console(stderr=True, soft_wrap=True)
_state = {"debug": False}

RootOption = Annotated[
    Optional[Path], typer.Option("--root", help="Store folder (default: $EDCO_ROOT or ./runs).", show_default=False)
]


def _root(root: Path | None) -> Path:
    from storage.store import default_root

    return root if root is not None else default_root()


def _quiet_libraries() -> None:
    # Prefect's temporary local API otherwise logs a telemetry SQLite error on every start,
    # and every stage's model load (transformers) and dataset preparation (datasets, inside
    # TRL's trainers) would draw a progress bar of its own between the stage lines.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")  # stage progress replaces them
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    _state["debug"] = debug


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="YAML config, e.g. configs/demo.yaml.")],
    root: RootOption = None,
    force: Annotated[bool, typer.Option("--force", help="Continue an existing run under a changed config.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress, only the result.")] = False,
) -> None:
    """Run a curriculum; an existing run with the same config continues where it stopped."""
    from edco.config import load_config

    cfg = load_config(config)
    _execute(cfg.with_root(root) if root else cfg, force, quiet)


@app.command()
def resume(
    run_name: Annotated[str, typer.Argument(metavar="RUN", help="Run name inside the store.")],
    root: RootOption = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Check this config against the frozen one.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Continue under --config even if it differs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress, only the result.")] = False,
) -> None:
    """Continue a run at its first unfinished interval, with its frozen config."""
    from edco.config import load_config
    from storage.store import RunStore

    store = RunStore.open(_root(root), run_name)
    cfg = load_config(config).with_root(store.run_dir.parent) if config else store.config()
    if cfg.run_name != run_name:
        raise EdcoError(f"--config is for run '{cfg.run_name}', not '{run_name}'")
    _execute(cfg, force, quiet)


def _execute(cfg: EdcoConfig, force: bool, quiet: bool) -> None:
    _quiet_libraries()
    from flows.curriculum import run_curriculum
    from tracking.mlflow_runs import tracking_uri

    with _showing_progress(quiet):
        store, metrics = run_curriculum(cfg, force)
    console.print(interval_table(store.name, metrics))
    root = store.run_dir.parent
    console.print(f"run folder: {store.run_dir}")
    console.print(f'query it:   edco sql --root {root} "SELECT * FROM turnover WHERE run = \'{store.name}\' ORDER BY interval"')
    console.print(f"browse it:  edco ui --root {root}    (MLflow at {tracking_uri(cfg)})")


_UNITS = {"score": "samples", "select": "", "train": "steps", "evaluate": "samples"}


@contextmanager
def _showing_progress(quiet: bool) -> Iterator[None]:
    """Stage progress as rich bars with rate and ETA on a terminal, one line per finished stage
    otherwise (logs, CI), nothing with --quiet. Prefect's own INFO lines are kept off the console
    (`_quiet_libraries`); they still reach the Prefect API and UI."""
    from tasks.stage import PROGRESS_LISTENERS

    if quiet:
        yield
        return
    if console.is_terminal:
        display = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
        )
        tasks: dict[tuple[str, int, str], TaskID] = {}

        def listener(p: StageProgress) -> None:
            key = (p.run, p.interval, p.stage)
            if key not in tasks:
                tasks[key] = display.add_task(f"{p.run} interval {p.interval} {p.stage}", total=p.total, rate="")
            display.update(tasks[key], completed=p.done, total=p.total, rate=_rate(p))
    else:
        display = nullcontext()

        def listener(p: StageProgress) -> None:
            if p.finished:
                console.print(f"{p.run} interval {p.interval} {p.stage}: {p.done}/{p.total} in {p.seconds:.1f} s {_rate(p)}")

    PROGRESS_LISTENERS.append(listener)
    try:
        with display:
            yield
    finally:
        PROGRESS_LISTENERS.remove(listener)


def _rate(p: StageProgress) -> str:
    """Items per second, or seconds per item when an item takes longer than a second (training steps)."""
    unit = _UNITS.get(p.stage, "")
    if not unit or p.seconds <= 0 or not p.done:
        return ""
    rate = p.done / p.seconds
    return f"({rate:.2f} {unit}/s)" if rate >= 1 else f"({1 / rate:.1f} s per {unit[:-1]})"


_COLUMNS = {  # metrics.json key -> column; a column appears when some interval has the key (GRPO's for GRPO runs)
    "accuracy": "accuracy", "base_accuracy": "base", "top_answer_share": "top answer share",
    "selected_signal_mean": "selected signal", "pool_signal_mean": "pool signal",
    "new": "new", "retained": "retained", "returned": "returned", "train_loss": "train loss", "reward_mean": "reward", "reward_std": "reward std",
    "frac_reward_zero_std": "equal-reward groups", "no_answer_frac": "no answer", "kl": "KL",
    "completion_length": "completion tokens",
}


def interval_table(run: str, metrics: list[dict]) -> Table:
    """One row per interval: what the curriculum measured, what training reported, and the stages' seconds."""
    keys = [key for key in _COLUMNS if any(key in m for m in metrics)]
    table = Table(title=f"run {run}")
    for column in ("interval", *(_COLUMNS[k] for k in keys), "seconds"):
        table.add_column(column, justify="right")
    for m in metrics:
        seconds = sum(m[f"{s}_seconds"] for s in ("score", "select", "train", "evaluate"))
        table.add_row(str(m["interval"]), *(_cell(m.get(k)) for k in keys), f"{seconds:.1f}")
    return table


@app.command("compare")
def compare_command(
    config: Annotated[Path, typer.Argument(help="Base YAML config; members differ only in strategy and seed.")],
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies.")] = "edco,random",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    root: RootOption = None,
    force: Annotated[bool, typer.Option("--force", help="Continue members whose frozen config differs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress, only the result.")] = False,
) -> None:
    """Run every (strategy, seed) with the same budget and compare them to random: accuracy and compute cost."""
    from edco.config import load_config

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    seed_list = _int_list("--seeds", seeds)
    cfg = load_config(config)
    cfg = cfg.with_root(root) if root else cfg
    _quiet_libraries()
    from flows.compare import run_comparison

    with _showing_progress(quiet):
        folder = run_comparison(cfg, names, seed_list, force)
    console.print((folder / "comparison.md").read_text(), markup=False, highlight=False)
    console.print(f"report: {folder}/comparison.md, comparison.csv, accuracy.png")


def _int_list(option: str, text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise EdcoError(f"{option} must be comma-separated integers, not {text!r}") from None


@bench_app.command("prefix-vs-full")
def bench_prefix_vs_full(
    config: Annotated[Path, typer.Argument(help="YAML config: its model, pool, scoring settings and top_n are used.")],
    n: Annotated[int, typer.Option("--n", help="Pool items scored by every setting.")] = 300,
    full: Annotated[str, typer.Option(help="Comma-separated max_new_tokens for full mode; the longest is the reference.")] = "32,64,128",
    prefix: Annotated[str, typer.Option(help="Comma-separated prefix_tokens for prefix mode.")] = "1,2,4,8",
    top_n: Annotated[Optional[int], typer.Option("--top-n", help="N of the overlap (default: the config's per-interval N).")] = None,
) -> None:
    """Seconds per sample of prefix and full entropy on the same pool items, and how alike they rank them."""
    from edco.bench import prefix_vs_full, settings, to_markdown
    from edco.config import load_config
    from edco.data import load_records
    from edco.models import load_model, load_tokenizer
    from edco.selection import interval_top_n

    full_tokens, prefix_tokens = _int_list("--full", full), _int_list("--prefix", prefix)
    if not full_tokens:
        raise EdcoError("--full needs at least one value: the longest full setting is the reference")
    cfg = load_config(config)
    records = load_records(cfg.data.pool, cfg.data.columns, limit=n, seed=cfg.data.seed, split="pool").table
    top = top_n or interval_top_n(cfg, len(records))
    console.print(f"{len(records)} pool items of {cfg.data.pool}, model {cfg.model.name}, top-N overlap at N = {top}; "
                  f"settings: {', '.join(s.name for s in settings(full_tokens, prefix_tokens))}", markup=False)
    model, tokenizer = load_model(cfg.model), load_tokenizer(cfg.model)
    rows = prefix_vs_full(model, tokenizer, records, cfg.scoring, full_tokens, prefix_tokens, top, cfg.seed)
    console.print(to_markdown(rows, settings(full_tokens, [])[-1].name), markup=False, highlight=False)


def _cell(value: float | None) -> str:
    return "" if value is None else str(value) if isinstance(value, int) else f"{value:.4f}"


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One SELECT over the views scores, metrics, turnover.")],
    root: RootOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Read-only DuckDB SQL across every run in the store."""
    if fmt not in ("table", "csv", "json"):
        raise EdcoError(f"--format must be table, csv or json, not {fmt!r}")
    _print_sql(_root(root), query, fmt=fmt)


def _print_sql(root: Path, sql: str, params: list[object] | None = None, fmt: str = "table") -> None:
    from storage.sql import query

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
        console.print(table)


@app.command()
def runs(root: RootOption = None) -> None:
    """List the store's runs: status, intervals done, best accuracy, MLflow run id."""
    from storage.catalog import list_runs
    from storage.store import RunStore
    from tracking.mlflow_runs import MlflowTracker

    table = Table(title=f"runs in {_root(root)}")
    for column in ("run", "status", "intervals", "strategy", "method", "base", "best accuracy", "MLflow run"):
        table.add_column(column)
    for entry in list_runs(_root(root)):
        mlflow_id = MlflowTracker(RunStore(_root(root) / entry.run)).find_run()
        table.add_row(
            entry.run, entry.status, f"{entry.finished}/{entry.intervals}", entry.strategy, entry.method,
            _cell(entry.base_accuracy), _cell(entry.best_accuracy), mlflow_id or "",
        )
    console.print(table)


@app.command()
def show(run_name: Annotated[str, typer.Argument(metavar="RUN")], root: RootOption = None) -> None:
    """The run's per-interval table: accuracy, signal of selection and pool, turnover, stage seconds."""
    from storage.sql import query
    from storage.store import RunStore

    RunStore.open(_root(root), run_name)
    metrics = query(_root(root), "SELECT * FROM metrics WHERE run = ? ORDER BY interval", [run_name]).to_pylist()
    turnover = {t["interval"]: t for t in query(_root(root), "SELECT * FROM turnover WHERE run = ?", [run_name]).to_pylist()}
    console.print(interval_table(run_name, [{**m, **turnover.get(m["interval"], {})} for m in metrics]))


@app.command()
def turnover(run_name: Annotated[str, typer.Argument(metavar="RUN")], root: RootOption = None) -> None:
    """Which selected samples are new, retained from the last interval, or returning, per interval."""
    from storage.store import RunStore

    RunStore.open(_root(root), run_name)
    _print_sql(_root(root), "SELECT interval, selected, new, retained, returned FROM turnover WHERE run = ? ORDER BY interval", [run_name])


@app.command()
def report(
    run_name: Annotated[str, typer.Argument(metavar="RUN", help="Run name inside the store.")],
    root: RootOption = None,
) -> None:
    """Write a run's plots and a self-contained HTML page into <root>/<run>/report/."""
    from storage.report import build_report

    console.print(str(build_report(_root(root), run_name)), markup=False, highlight=False)


@app.command()
def ui(
    root: RootOption = None,
    host: Annotated[str, typer.Option(help="Bind address; loopback unless you mean to expose it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 5000,
) -> None:
    """Open the MLflow UI on the store's tracking database."""
    from tracking.mlflow_runs import open_store_ui

    cmd = mlflow_ui_command(_root(root), host, port)
    open_store_ui(_root(root))
    console.print(f"MLflow UI at http://{host}:{port} (Ctrl-C to stop)")
    os.execv(sys.executable, cmd)


def mlflow_ui_command(root: Path, host: str, port: int) -> list[str]:
    db = root.resolve() / "mlflow.db"
    if not db.exists():
        raise EdcoError(f"no MLflow database at {db}; run a curriculum first or pass --root")
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{db}", "--host", host, "--port", str(port)]


@app.command("config-docs")
def config_docs() -> None:
    """Print the configuration reference (docs/CONFIG.md) generated from the config schema."""
    from edco.config_docs import config_reference

    sys.stdout.write(config_reference())


@data_app.command("demo")
def data_demo(
    out: Annotated[Path, typer.Option("--out", help="JSONL file to write.")],
    split: Annotated[str, typer.Option(help="pool or eval.")] = "pool",
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
    n: Annotated[Optional[int], typer.Option(help="Number of items (default: all).")] = None,
) -> None:
    """Write the built-in network-log root-cause task as JSONL."""
    from edco import demo
    from storage.files import atomic_write

    if split not in ("pool", "eval"):
        raise EdcoError(f"--split must be pool or eval, not {split!r}")
    records = demo.generate(split, seed, n)
    atomic_write(out, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in records)))
    console.print(f"wrote {len(records)} {split} records to {out}")


_TELEQNA_ZIP = Path("../shared/data/teleqna/TeleQnA.zip")


@data_app.command("teleqna")
def data_teleqna(
    out_dir: Annotated[
        Path, typer.Option("--out-dir", help="Folder for teleqna_pool.jsonl and teleqna_eval.jsonl; a git-ignored one (data/teleqna).")
    ],
    zip_path: Annotated[
        Optional[Path], typer.Option("--zip", help=f"TeleQnA.zip (default: {_TELEQNA_ZIP}, if it exists).", show_default=False)
    ] = None,
    eval_fraction: Annotated[float, typer.Option(help="Share of questions held out for eval.")] = 0.2,
    category: Annotated[Optional[list[str]], typer.Option("--category", metavar="NAME", help="Keep only this category (repeatable).")] = None,
    pool_limit: Annotated[Optional[int], typer.Option(min=1, help="Keep the first N pool items of the stable order.")] = None,
    eval_limit: Annotated[Optional[int], typer.Option(min=1, help="Keep the first N eval items of the stable order.")] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Leave out (and list) invalid entries instead of failing.")
    ] = False,
) -> None:
    """Import the real TeleQnA zip as pool and eval JSONL, split by a hash of each question."""
    from collections import Counter

    from edco import teleqna
    from storage.files import atomic_write

    if zip_path is None and not _TELEQNA_ZIP.is_file():
        raise EdcoError(f"--zip is required: no TeleQnA zip at the default {_TELEQNA_ZIP}")
    splits = teleqna.load_teleqna(
        zip_path or _TELEQNA_ZIP, eval_fraction=eval_fraction, categories=category,
        pool_limit=pool_limit, eval_limit=eval_limit, skip_invalid=skip_invalid,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, records in (("pool", splits.pool), ("eval", splits.eval)):
        text = "".join(json.dumps(r) + "\n" for r in records)
        path = atomic_write(out_dir / f"teleqna_{split}.jsonl", lambda tmp: tmp.write_text(text))
        console.print(f"wrote {len(records)} {split} records to {path}")
    pool_counts, eval_counts = (Counter(r["category"] for r in records) for records in (splits.pool, splits.eval))
    table = Table("category")
    for split in ("pool", "eval"):
        table.add_column(split, justify="right")
    for name in sorted(pool_counts.keys() | eval_counts.keys()):
        table.add_row(name, str(pool_counts[name]), str(eval_counts[name]))
    console.print(table)
    console.print(f"split: {teleqna.split_rule(eval_fraction)}", markup=False)
    if splits.skipped:
        console.print(f"left out {len(splits.skipped)} invalid entries (--skip-invalid):")
        for problem in (p for problems in splits.skipped.values() for p in problems):
            console.print(f"  - {problem}", markup=False, highlight=False)
    console.print(f"reminder: TeleQnA's authors ask that its text is never committed; keep {out_dir} out of git.", markup=False)


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv if argv is not None else sys.argv[1:], prog_name="edco", standalone_mode=False)
    except EdcoError as exc:
        if _state["debug"]:
            raise
        errors.print(f"error: {exc}", style="red", markup=False, highlight=False)
        if exc.hint:
            errors.print(f"hint: {exc.hint}", markup=False, highlight=False)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 130
    except TyperException as exc:  # usage errors (typer's vendored click exceptions)
        exc.show()
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
