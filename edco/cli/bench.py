"""`edco bench`: measurements on the user's own model and data (docs/BENCHMARKS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edco.cli import output
from edco.errors import EdcoError


def bench_prefix_vs_full(
    config: Annotated[Path, typer.Argument(help="YAML config: its model, pool, scoring settings and top_n are used.")],
    n: Annotated[int, typer.Option("--n", help="Pool items scored by every setting.")] = 300,
    full: Annotated[
        str, typer.Option(help="Comma-separated max_new_tokens for full mode; the longest is the reference.")
    ] = "32,64,128",
    prefix: Annotated[str, typer.Option(help="Comma-separated prefix_tokens for prefix mode.")] = "1,2,4,8",
    top_n: Annotated[
        Optional[int], typer.Option("--top-n", help="N of the overlap (default: the config's per-interval N).")
    ] = None,
) -> None:
    """Seconds per sample of prefix and full entropy on the same pool items, and how alike they rank them."""
    from edco.config.schema import load_config
    from edco.datasets.readers import load_records
    from edco.models.loading import load_model, load_tokenizer
    from edco.scoring.agreement import prefix_vs_full, settings, to_markdown
    from edco.selection.strategies import interval_top_n

    full_tokens, prefix_tokens = output.int_list("--full", full), output.int_list("--prefix", prefix)
    if not full_tokens:
        raise EdcoError("--full needs at least one value: the longest full setting is the reference")
    cfg = load_config(config)
    records = load_records(cfg.data.pool, cfg.data.columns, limit=n, seed=cfg.data.seed, split="pool").table
    top = top_n or interval_top_n(cfg, len(records))
    output.console.print(
        f"{len(records)} pool items of {cfg.data.pool}, model {cfg.model.name}, top-N overlap at N = {top}; "
        f"settings: {', '.join(s.name for s in settings(full_tokens, prefix_tokens))}",
        markup=False,
    )
    model, tokenizer = load_model(cfg.model), load_tokenizer(cfg.model)
    rows = prefix_vs_full(model, tokenizer, records, cfg.scoring, full_tokens, prefix_tokens, top, cfg.seed)
    output.console.print(to_markdown(rows, settings(full_tokens, [])[-1].name), markup=False, highlight=False)
