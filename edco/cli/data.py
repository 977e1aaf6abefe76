"""`edco data`: write the built-in demo task, import TeleQnA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from edco.cli import output
from edco.data.kinds import KINDS
from edco.errors import EdcoError


def data_demo(
    out: Annotated[Path, typer.Option("--out", help="JSONL file to write.")],
    split: Annotated[str, typer.Option(help="pool or eval.")] = "pool",
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
    n: Annotated[Optional[int], typer.Option(help="Number of items (default: all).")] = None,
    kind: Annotated[str, typer.Option(help="choice, reference or chat records.")] = "choice",
) -> None:
    """Write the built-in network-log root-cause task as JSONL."""
    from edco.datasets import demo
    from edco.storage.files import atomic_write

    if split not in ("pool", "eval"):
        raise EdcoError(f"--split must be pool or eval, not {split!r}")
    if kind not in KINDS:
        raise EdcoError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    records = demo.generate(split, seed, n, kind)
    atomic_write(out, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in records)))
    output.console.print(f"wrote {len(records)} {split} {kind} records to {out}")


_TELEQNA_ZIP = Path("../shared/data/teleqna/TeleQnA.zip")


def data_teleqna(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out-dir", help="Folder for teleqna_pool.jsonl and teleqna_eval.jsonl; a git-ignored one (data/teleqna)."
        ),
    ],
    zip_path: Annotated[
        Optional[Path],
        typer.Option("--zip", help=f"TeleQnA.zip (default: {_TELEQNA_ZIP}, if it exists).", show_default=False),
    ] = None,
    eval_fraction: Annotated[float, typer.Option(help="Share of questions held out for eval.")] = 0.2,
    category: Annotated[
        Optional[list[str]], typer.Option("--category", metavar="NAME", help="Keep only this category (repeatable).")
    ] = None,
    pool_limit: Annotated[
        Optional[int], typer.Option(min=1, help="Keep the first N pool items of the stable order.")
    ] = None,
    eval_limit: Annotated[
        Optional[int], typer.Option(min=1, help="Keep the first N eval items of the stable order.")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Leave out (and list) invalid entries instead of failing.")
    ] = False,
    kind: Annotated[
        str,
        typer.Option(
            help="choice (question, options, answer) or reference (question -> the gold option's text and its "
            "explanation; questions that need their options are left out)."
        ),
    ] = "choice",
) -> None:
    """Import the real TeleQnA zip as pool and eval JSONL, split by a hash of each question."""
    from collections import Counter

    from edco.datasets import teleqna
    from edco.storage.files import atomic_write

    if kind not in ("choice", "reference"):
        raise EdcoError(f"--kind must be choice or reference, not {kind!r}")
    if zip_path is None and not _TELEQNA_ZIP.is_file():
        raise EdcoError(f"--zip is required: no TeleQnA zip at the default {_TELEQNA_ZIP}")
    splits = teleqna.load_teleqna(
        zip_path or _TELEQNA_ZIP,
        eval_fraction=eval_fraction,
        categories=category,
        pool_limit=pool_limit,
        eval_limit=eval_limit,
        skip_invalid=skip_invalid,
        kind=kind,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, records in (("pool", splits.pool), ("eval", splits.eval)):
        text = "".join(json.dumps(r) + "\n" for r in records)
        path = atomic_write(out_dir / f"teleqna_{split}.jsonl", lambda tmp, text=text: tmp.write_text(text))
        output.console.print(f"wrote {len(records)} {split} records to {path}")
    pool_counts, eval_counts = (Counter(r["category"] for r in records) for records in (splits.pool, splits.eval))
    table = Table("category")
    for split in ("pool", "eval"):
        table.add_column(split, justify="right")
    for name in sorted(pool_counts.keys() | eval_counts.keys()):
        table.add_row(name, str(pool_counts[name]), str(eval_counts[name]))
    output.console.print(table)
    output.console.print(f"split: {teleqna.split_rule(eval_fraction)}", markup=False)
    if kind == "reference":
        output.console.print(
            f"left out {splits.option_dependent} questions that need their options ('which of the following', "
            "'all of the above', ...)",
            markup=False,
        )
    if splits.skipped:
        output.console.print(f"left out {len(splits.skipped)} invalid entries (--skip-invalid):")
        for problem in (p for problems in splits.skipped.values() for p in problems):
            output.console.print(f"  - {problem}", markup=False, highlight=False)
    output.console.print(
        f"reminder: TeleQnA's authors ask that its text is never committed; keep {out_dir} out of git.", markup=False
    )
