"""Scorer speed guard: entropy scoring against a plain forward of the same prompts.

What it answers: how close does `edco.scoring.entropy.score_table` (generate with output_logits on
left-padded length batches) come to the cheapest pass that could score a prompt at
all, a batched forward of the same prompts that computes only the last position's logits
(`logits_to_keep=1`, no KV cache kept)? Variants: prefix k = 1, prefix k = 4, and full mode
with up to 32 new tokens. Full mode is given the prefix modes' "quick" instruction rather
than its default "reasoning" one, so that every variant scores exactly the same prompts.

All variants run in one process on one loaded model and the same records. They are
interleaved within each repeat (plain, k1, k4, full32, plain, k1, ...) and the best of the
repeats is reported per variant, so background load on the machine hits all of them alike;
one untimed warm-up of each kind of pass precedes the repeats. Every timed variant does the
same host-side work as `score_table` (render the chat prompts, tokenize to sort by length,
tokenize each left-padded batch). Tokens/s counts real (non-pad) prompt tokens, plus, for
the scorer, the generated tokens it scores (up to and including EOS, as `model_tokens`).

Also reported: the padding share of the scorer's length batches (`edco.scoring.batching`; and of a
plain sort cut every `--batch`, and of the record order, to show what each saves), peak RSS,
the machine's measured fp32 matmul GFLOP/s (best 2048^3
torch.matmul, interleaved with the variants), and the model FLOP utilisation implied by it.
Prints one Markdown table, notes, and a verdict per target.

    PREFECT_SERVER_ANALYTICS_ENABLED=false .venv/bin/python -m benchmarks.scorer_speed \
        [--samples 96] [--batch 16] [--repeats 3] [--padding-only demo:96,demo:2000]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel

from benchmarks.harness import (
    MATMUL_N,
    add_demo_args,
    benchmark_parser,
    matmul_gflops,
    model_and_tokenizer,
    peak_rss_mib,
    plain_forward,
    pool_records,
    prompt_lengths,
    scorer,
    timed,
)
from edco.config.schema import ModelConfig, ScoringConfig
from edco.data.prompts import chat_prompts
from edco.models.loading import load_tokenizer
from edco.scoring.batching import length_batches

PLAIN = "plain forward (last position's logits)"
TARGETS = {"prefix k=1": 0.95, "prefix k=4": 0.85}  # least tokens/s ratio against PLAIN
PADDING_TARGET = 0.03


@dataclass(frozen=True)
class Variant:
    name: str
    run: Callable[[], int]  # does the timed work, returns the tokens it processed


def padding_share(lengths: list[int], batches: list[list[int]]) -> float:
    """Pad tokens / (pad + real) prompt tokens when each batch is padded to its longest prompt."""
    real = sum(lengths[i] for b in batches for i in b)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return (padded - real) / padded


def parameter_counts(model: PreTrainedModel) -> tuple[int, int]:
    """(non-embedding, total) parameters; a tied LM head is counted once, with the embedding."""
    total = sum(p.numel() for p in model.parameters())  # parameters() yields a tied weight once
    embedding = model.get_input_embeddings().weight.numel()
    return total - embedding, total


def print_padding(pools: str, batch: int) -> None:
    """Padding of the scorer's length batches against a plain sort, for pools of other sources and sizes."""
    tokenizer = load_tokenizer(ModelConfig())
    print(f"| pool | prompts | mean tokens | record order | sorted, cut every {batch} | scorer's batches | batches |")
    print("|---|---|---|---|---|---|---|")
    for pool in pools.split(","):
        source, _, n = pool.rpartition(":")
        records = pool_records(source, int(n))
        lengths = prompt_lengths(tokenizer, chat_prompts(tokenizer, records, "quick"))
        chunks = [list(range(i, min(i + batch, len(lengths)))) for i in range(0, len(lengths), batch)]
        batches = length_batches(lengths, batch)
        print(
            f"| {source} | {len(lengths)} | {sum(lengths) / len(lengths):.0f} | {padding_share(lengths, chunks):.2%} "
            f"| {padding_share(lengths, length_batches(lengths, batch, max_padding=1.0)):.2%} "
            f"| {padding_share(lengths, batches):.2%} | {len(batches)} |"
        )


def main() -> None:
    parser = benchmark_parser(__doc__)
    add_demo_args(parser, samples=96, batch=16, repeats=3)
    parser.add_argument(
        "--padding-only",
        metavar="SOURCE:N,...",
        help="Only print the padding share of these pools (tokenization, no model), e.g. demo:96,demo:2000",
    )
    args = parser.parse_args()
    if args.padding_only:
        print_padding(args.padding_only, args.batch)
        return

    cfg = ModelConfig()
    model, tokenizer = model_and_tokenizer(cfg)
    records = pool_records("demo", args.samples)
    configs = {
        "prefix k=1": ScoringConfig(mode="prefix", prefix_tokens=1, batch_size=args.batch),
        "prefix k=4": ScoringConfig(mode="prefix", prefix_tokens=4, batch_size=args.batch),
        "full, <= 32 new tokens": ScoringConfig(mode="full", max_new_tokens=32, prompt="quick", batch_size=args.batch),
    }
    assert {c.instruction for c in configs.values()} == {"quick"}  # every variant scores the same prompts

    variants = [Variant(PLAIN, lambda: plain_forward(model, tokenizer, records, args.batch))]
    variants += [Variant(name, lambda c=c: scorer(model, tokenizer, records, c)) for name, c in configs.items()]

    # Untimed warm-up of both kinds of pass (thread pools, allocator) on one small batch.
    warm = records.slice(0, min(args.batch, len(records)))
    plain_forward(model, tokenizer, warm, args.batch)
    scorer(model, tokenizer, warm, configs["prefix k=4"])

    best: dict[str, float] = {v.name: math.inf for v in variants}
    tokens: dict[str, int] = {}
    gflops = 0.0
    for _ in range(args.repeats):
        gflops = max(gflops, matmul_gflops())
        for v in variants:
            seconds, tokens[v.name] = timed(v.run)
            best[v.name] = min(best[v.name], seconds)
    rss = peak_rss_mib()

    lengths = prompt_lengths(tokenizer, chat_prompts(tokenizer, records, "quick"))
    batches = length_batches(lengths, args.batch)
    pad_sorted = padding_share(lengths, batches)
    pad_sort_only = padding_share(lengths, length_batches(lengths, args.batch, max_padding=1.0))
    unsorted = [list(range(i, min(i + args.batch, len(lengths)))) for i in range(0, len(lengths), args.batch)]
    pad_unsorted = padding_share(lengths, unsorted)
    n_body, n_total = parameter_counts(model)
    rate = {name: tokens[name] / seconds for name, seconds in best.items()}
    ratio = {name: r / rate[PLAIN] for name, r in rate.items()}

    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    print(
        f"{cfg.name} {dtype} on {model.device} ({torch.get_num_threads()} threads), {len(records)} demo samples, "
        f"{sum(lengths)} real prompt tokens (mean {sum(lengths) / len(lengths):.0f}), batches of {args.batch} "
        f"sorted by length, left-padded; best of {args.repeats} interleaved repeats, model load not timed\n"
    )
    print("| variant | seconds | samples/s | tokens/s | vs plain forward | MFU |")
    print("|---|---|---|---|---|---|")
    for name, seconds in best.items():
        mfu = 2 * n_body * rate[name] / (gflops * 1e9)
        print(
            f"| {name} | {seconds:.2f} | {len(records) / seconds:.1f} | {rate[name]:.0f} | {ratio[name]:.2f}x "
            f"| {mfu:.1%} |"
        )
    print()
    print("- All variants score the same prompts: full mode is run with prompt=quick (its default is 'reasoning').")
    print(
        "- tokens/s = (real prompt tokens + generated tokens scored, up to and including EOS) / seconds; the plain "
        "forward counts prompt tokens only. Steps a batch spends on rows that already ended are not counted."
    )
    print(
        f"- padding share (pad / (pad + real) prompt tokens): {pad_sorted:.2%} in the scorer's {len(batches)} "
        f"length batches (edco.scoring.batching), {pad_sort_only:.2%} sorted and cut every {args.batch}, "
        f"{pad_unsorted:.2%} in record order"
    )
    print(f"- peak RSS after all variants: {rss:.0f} MiB")
    print(f"- fp32 matmul: {gflops:.1f} GFLOP/s (best {MATMUL_N}^3 torch.matmul, 2 n^3 flops)")
    print(
        f"- MFU = 2 N tokens/s / matmul FLOP/s with N = {n_body / 1e6:.1f}M non-embedding parameters (total "
        f"{n_total / 1e6:.1f}M with the tied embedding/LM head). 2 N is the usual forward approximation: it leaves "
        f"out attention over the context and the LM head, which decoding streams for every generated token "
        f"({(n_total - n_body) / 1e6:.1f}M more parameters), so it understates the generating variants most."
    )
    print()
    for name, least in TARGETS.items():
        verdict = "met" if ratio[name] >= least else "MISSED"
        print(f"- {name}: {ratio[name]:.2f}x of the plain forward's tokens/s, target >= {least:.2f}: {verdict}")
    verdict = "met" if pad_sorted < PADDING_TARGET else "MISSED"
    print(
        f"- padding: {pad_sorted:.2%} of the scorer's batches' prompt tokens, target < {PADDING_TARGET:.0%}: {verdict}"
    )


if __name__ == "__main__":
    main()
