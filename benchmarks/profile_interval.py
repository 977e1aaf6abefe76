"""Where one interval's scoring and training spend their time, operator by operator.

Why it exists (issue 8): the curriculum's overhead is its scoring set against its training,
and the overhead benchmark only says how long each stage took. This replays one interval of a
finished run exactly as its stages compute it (the run's config and precision, the interval's
starting model; the whole pool through the run's signal, then the interval's selection
through `train`) under `torch.profiler`, and sorts the self time of every operator
into kinds of work: matrix multiplies, attention, TRL's chunked LM head and log-prob,
casts and copies, other tensor operations, and Python (the phase's time outside any
operator). Training is split into forward, backward and the optimizer step. Beside it, the
model FLOPs each phase implies (2 N per scored token, N without the embedding/LM head, which
the scorer applies to a few positions only; 6 N per trained token, N with it; attention not
counted) and the rate reached, so the ratio of scoring to training compute at equal speed can
be read next to the ratio of their seconds. Model loading is left out, as in the stages'
compute seconds.

py-spy was tried first: its native unwinding stops at oneDNN's JIT-compiled kernels (the
bfloat16 matmuls and flash attention), leaving a third to a half of the samples without an
operator, and it slowed the replay 1.6-1.7x. The profiler's operator times cover 89-95% of
each phase, and its replays take 0.96-1.11x the stages' own seconds.

Prints Markdown.

    .venv/bin/python -m benchmarks.profile_interval runs/bench-published-mixed [--interval 0]
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from torch.autograd.profiler_util import FunctionEvent
from torch.profiler import ProfilerActivity, profile

from benchmarks.harness import add_run_args, benchmark_parser, model_and_tokenizer
from edco.models.loading import load_model
from edco.scoring.signals import SIGNALS
from edco.seeds import derive_seed
from edco.selection.strategies import STRATEGIES
from edco.storage.store import RunStore
from edco.training.trainers import train

KINDS = ("matrix multiplies", "attention", "LM head + log-prob (TRL)", "casts and copies", "other tensor ops", "Python")
MATMUL = {"aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::linear"}
CASTS = {"aten::copy_", "aten::_to_copy", "aten::to", "aten::clone"}


def _ancestors(event: FunctionEvent) -> list[str]:
    names = []
    while event.cpu_parent is not None:
        event = event.cpu_parent
        names.append(event.name)
    return names


def part_of(above: list[str]) -> str:
    """Forward, backward or optimizer step, from the names of the ranges an operator ran in: the
    autograd engine and `Optimizer.step` mark the latter two."""
    if any(name.startswith("autograd::engine::evaluate_function") for name in above):
        return "backward"
    if any(name.startswith("Optimizer.step") for name in above):
        return "optimizer step"
    return "forward"


def kind_of(name: str, above: list[str]) -> str:
    """The kind of work of an operator's self time; TRL's fused LM head owns everything inside it."""
    if any(range_.startswith("ChunkedLogProb") for range_ in [name, *above]):
        return "LM head + log-prob (TRL)"
    if "scaled_dot_product" in name or "flash_attention" in name:
        return "attention"
    if name in MATMUL:
        return "matrix multiplies"
    if name in CASTS:
        return "casts and copies"
    return "other tensor ops" if name.startswith("aten::") else "Python"


def profiled(work: Callable[[], Any]) -> tuple[float, Any, Counter[tuple[str, str]], Counter[str]]:
    """(wall seconds, result, self seconds per (part, kind), self seconds per operator) of `work`."""
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        result = work()
    wall = time.perf_counter() - start
    by_kind: Counter[tuple[str, str]] = Counter()
    by_op: Counter[str] = Counter()
    for event in prof.events():
        seconds, above = event.self_cpu_time_total / 1e6, _ancestors(event)
        by_kind[part_of(above), kind_of(event.name, above)] += seconds
        by_op[event.name] += seconds
    by_kind["outside operators", "Python"] += wall - sum(by_kind.values())  # the Python driving them
    return wall, result, by_kind, by_op


def model_params(model: Any) -> tuple[int, int]:
    """(parameters without the input embedding, the embedding's): the LM head is tied to it on SmolLM2."""
    embedding = model.get_input_embeddings().weight.numel()
    return sum(p.numel() for p in model.parameters()) - embedding, embedding


def replay(store: RunStore, interval: int) -> dict[str, dict[str, Any]]:
    """The interval's scoring and training, each profiled, with tokens and model FLOPs."""
    cfg = store.config()
    model, tokenizer = model_and_tokenizer(cfg.model, store.model_checkpoint(interval))
    body, head = model_params(model)
    signal = SIGNALS[STRATEGIES[cfg.selection.strategy].signal]
    seed = derive_seed(cfg.seed, interval, "score")
    wall, table, kinds, ops = profiled(lambda: signal.measure(model, tokenizer, store.pool(), cfg.scoring, None, seed))
    tokens = sum(table["model_tokens"].to_pylist())
    phases = {"scoring": {"seconds": wall, "tokens": tokens, "flops": 2 * body * tokens, "kinds": kinds, "ops": ops}}
    model = load_model(cfg.model, store.model_checkpoint(interval), training=True)
    records = store.selected_records(interval)
    wall, stats, kinds, ops = profiled(lambda: train(model, tokenizer, records, cfg, interval))
    tokens = int(stats.summary["train_tokens"])
    phases["training"] = {
        "seconds": wall,
        "tokens": tokens,
        "flops": 6 * (body + head) * tokens,
        "kinds": kinds,
        "ops": ops,
    }
    return phases


def print_tables(store: RunStore, interval: int, phases: dict[str, dict[str, Any]]) -> None:
    cfg, metrics = store.config(), store.metrics(interval)
    recorded = {
        "scoring": metrics["score_seconds"] - metrics.get("score_model_io_seconds", 0.0),
        "training": store.training_seconds(interval),
    }
    print(
        f"{store.name}, interval {interval}: model.dtype {cfg.model.dtype}, train_dtype {cfg.model.train_dtype}; "
        "share of each phase's seconds by the profiler's operator self time\n"
    )
    print("| phase | part | seconds (the run's stage) | tokens | model TFLOP | GFLOP/s | " + " | ".join(KINDS) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(KINDS))
    for name, phase in phases.items():
        kinds, total = phase["kinds"], phase["seconds"]
        parts = sorted({part for part, _ in kinds}, key=lambda p: -sum(v for (q, _), v in kinds.items() if q == p))
        for part in [None, *parts] if len(parts) > 1 else [None]:
            shares = [
                sum(v for (q, k), v in kinds.items() if k == kind and part in (None, q)) / total for kind in KINDS
            ]
            if part is None:
                head = (
                    f"| {name} | all | {total:.1f} ({recorded[name]:.1f}) | {phase['tokens']:,} | "
                    f"{phase['flops'] / 1e12:.1f} | {phase['flops'] / total / 1e9:.0f} |"
                )
            else:
                head = f"| | {part} | {sum(shares) * total:.1f} | | | |"
            print(head + " ".join(f" {s:.0%} |" for s in shares))
    ratio = phases["scoring"]["flops"] / phases["training"]["flops"]
    seconds = phases["scoring"]["seconds"] / phases["training"]["seconds"]
    print(f"\nscoring / training: {ratio:.0%} of the model FLOPs, {seconds:.0%} of the seconds\n")
    print("| phase | the five costliest operators (self seconds) |")
    print("|---|---|")
    for name, phase in phases.items():
        top = ", ".join(f"`{op}` {s:.1f}" for op, s in phase["ops"].most_common(5))
        print(f"| {name} | {top} |")


def main() -> None:
    parser = benchmark_parser(__doc__)
    add_run_args(parser, interval=True)
    args = parser.parse_args()
    store = RunStore(args.run_dir)
    print_tables(store, args.interval, replay(store, args.interval))


if __name__ == "__main__":
    main()
