"""What the benchmarks share around their measurements: arguments, inputs, clocks and reference passes.

Each benchmark is one script that prints Markdown; what more than one of them needs lives here
once, so that two benchmarks which compare their numbers (`cpu_bf16` reuses the passes of
`scorer_speed` and `train_speed`) measure with the very same code, and a benchmark imports only
this module and edco's public names. Run the benchmarks as modules from the checkout's root
(`.venv/bin/python -m benchmarks.NAME`), which puts the root on `sys.path` for this import.

Importing it costs no more than the standard library: torch, transformers, pyarrow and edco's
model code are imported inside the functions that use them, because `selection_scale` reports
the peak RSS of a process that loads no model, and torch alone would add some 150 MiB to it.
"""

from __future__ import annotations

import argparse
import math
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

if TYPE_CHECKING:
    import pyarrow as pa
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from edco.config.schema import ColumnMap, ModelConfig, ScoringConfig

T = TypeVar("T")
P = ParamSpec("P")
MATMUL_N = 2048  # the matmul that measures the machine's FLOP/s: 2048 x 2048 by 2048 x 2048


# Arguments


def benchmark_parser(doc: str) -> argparse.ArgumentParser:
    """The parser of a benchmark's command line, described by its docstring's first line: the
    question the benchmark answers is what `--help` shows first."""
    return argparse.ArgumentParser(description=doc.splitlines()[0])


def add_run_args(parser: argparse.ArgumentParser, *, interval: bool = False) -> None:
    """The finished run a replaying benchmark reads (`run_dir`), and with `interval` the one it
    replays: the replays start from that interval's kept model, as its stages did."""
    parser.add_argument("run_dir", type=Path)
    if interval:
        parser.add_argument(
            "--interval", type=int, default=0, help="one whose starting model is kept (0: the base model)"
        )


def add_demo_args(parser: argparse.ArgumentParser, *, samples: int, batch: int, repeats: int) -> None:
    """How many demo records, in batches of how many, timed best of how many repeats: the knobs
    of every benchmark that times passes of the default model on the demo pool."""
    parser.add_argument("--samples", type=int, default=samples)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--repeats", type=int, default=repeats)


# Inputs


def pool_records(source: str, limit: int | None, columns: ColumnMap | None = None, seed: int = 0) -> pa.Table:
    """The first `limit` pool records of `source` ("demo", a file, "hf:..."), validated as a run
    reads them, so a benchmark scores what a curriculum would."""
    from edco.config.schema import ColumnMap
    from edco.datasets.readers import load_records

    return load_records(source, columns or ColumnMap(), limit=limit, seed=seed, split="pool").table


def model_and_tokenizer(
    cfg: ModelConfig, checkpoint: Path | None = None, *, training: bool = False
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model (the base one or an interval's `checkpoint`) and its tokenizer, loaded as a
    stage loads them, placement and precision included."""
    from edco.models.loading import load_model, load_tokenizer

    tokenizer = load_tokenizer(cfg)
    return load_model(cfg, checkpoint, training=training), tokenizer


def prompt_lengths(tokenizer: PreTrainedTokenizerBase, prompts: list[str]) -> list[int]:
    """Tokens per rendered prompt, tokenized as the scorer tokenizes them to sort by length."""
    return [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]


def right_padded(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """The batch TRL's collator builds: right padding, labels -100 outside the completion."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n] = torch.tensor(r["input_ids"])
        labels[i, :n] = torch.where(torch.tensor(r["completion_mask"]).bool(), torch.tensor(r["input_ids"]), -100)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def sft_batches(
    tokenizer: PreTrainedTokenizerBase, records: pa.Table, batch_size: int
) -> tuple[list[dict[str, torch.Tensor]], int]:
    """The records' SFT examples (`sft_dataset`, as `train_sft` tokenizes them) in right-padded
    batches of `batch_size`, and their real (non-pad) tokens: the same work for a plain loop as
    for TRL's trainer."""
    from edco.training.trainers import sft_dataset

    dataset = sft_dataset(tokenizer, records)
    rows = [dataset[i] for i in range(len(dataset))]
    batches = [right_padded(rows[i : i + batch_size], tokenizer.pad_token_id) for i in range(0, len(rows), batch_size)]
    return batches, sum(int(b["attention_mask"].sum()) for b in batches)


# Clocks


def timed(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> tuple[float, T]:
    """(wall seconds, result) of one call `fn(*args, **kwargs)`: the clock runs around the call
    and nothing else, so every benchmark times its work alike."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def best_on_fresh_model(cfg: ModelConfig, fn: Callable[[torch.nn.Module], object], repeats: int) -> float:
    """Best of `repeats` wall times of `fn` on a freshly loaded training model (the load is not
    timed): the best is the run least disturbed by other work on the machine."""
    from edco.models.loading import load_model

    best = math.inf
    for _ in range(repeats):
        model = load_model(cfg, training=True)
        best = min(best, timed(fn, model)[0])
    return best


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_gflops(n: int = MATMUL_N, tries: int = 3, dtype: torch.dtype | None = None) -> float:
    """Best torch.matmul rate of two n x n matrices (of `dtype`, float32 by default) on this
    machine (2 n^3 flops each): the ceiling a model's FLOP utilisation is reckoned against."""
    import torch

    dtype = dtype or torch.float32
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.matmul(a, b)  # warm-up
    return 2 * n**3 / min(timed(torch.matmul, a, b)[0] for _ in range(tries)) / 1e9


# Reference passes


def plain_forward(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, records: pa.Table, batch: int) -> int:
    """The floor: same prompts, same left-padded length batches as `score_table`, one forward
    per batch computing only the last position's logits. Returns the real prompt tokens."""
    import torch

    from edco.data.prompts import chat_prompts
    from edco.scoring.batching import length_batches

    model.eval()
    prompts = chat_prompts(tokenizer, records, "quick")
    lengths = prompt_lengths(tokenizer, prompts)
    with torch.no_grad():
        for idx in length_batches(lengths, batch):
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = enc.to(model.device)
            mask = enc["attention_mask"]
            positions = (mask.long().cumsum(-1) - 1).clamp(min=0)  # as generate() derives them for left padding
            model(
                input_ids=enc["input_ids"],
                attention_mask=mask,
                position_ids=positions,
                use_cache=False,
                logits_to_keep=1,
            )
    return sum(lengths)


def scorer(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, records: pa.Table, cfg: ScoringConfig) -> int:
    """`score_table` as a curriculum runs it; returns prompt + scored generated tokens."""
    from edco.scoring.entropy import score_table

    table = score_table(model, tokenizer, records, cfg)
    return sum(table["model_tokens"].to_pylist())


def plain_loop(model: torch.nn.Module, batches: list[dict], step: bool) -> None:
    """Forward + backward of each batch (and an AdamW step when `step`): the floor TRL is compared to."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()
    for batch in batches:
        model(**batch).loss.backward()
        if step:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
