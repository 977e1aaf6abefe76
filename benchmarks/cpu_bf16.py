"""bfloat16 against float32 on this CPU: which precision is faster here, and does bf16 rank the pool alike?

Why it exists: `model.dtype: auto` picks float32 on a CPU, because most x86 CPUs run bf16
matmuls slower than fp32 ones. CPUs with AMX tiles (Intel Xeon Sapphire Rapids and later,
this project's development machine among them) run them several times faster, which would
change what the curriculum costs here. What it answers, in one process on the same demo
records, fp32 and bf16 interleaved within each repeat (best of the repeats reported):

- matmul GFLOP/s (2048^3) in each precision;
- the plain batched forward (last position's logits) and the prefix k = 4 scorer
  (`score_table`) with the model loaded in each precision;
- forward + backward of SFT batches with fp32 weights, with bf16 weights, and with fp32
  weights under bf16 autocast (mixed precision: fp32 master weights, so the small updates of
  fine-tuning are not rounded away, as they are in pure bf16 weights);
- how alike the bf16 scorer ranks the records against the fp32 one (Spearman rho, Kendall
  tau, top-N overlap).

Prints Markdown.

    .venv/bin/python -m benchmarks.cpu_bf16 [--samples 96] [--batch 16] [--top-n 32] [--repeats 2]
    .venv/bin/python -m benchmarks.cpu_bf16 --matmul-only   # a minute, where the model passes would take hours
"""

from __future__ import annotations

import math

import pyarrow as pa
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from benchmarks.harness import (
    add_demo_args,
    benchmark_parser,
    best_on_fresh_model,
    matmul_gflops,
    plain_forward,
    plain_loop,
    pool_records,
    scorer,
    sft_batches,
    timed,
)
from edco.config.schema import ModelConfig, ScoringConfig
from edco.models.loading import load_model, load_tokenizer
from edco.scoring.agreement import agreement
from edco.scoring.entropy import score_table

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def autocast_loop(model: torch.nn.Module, batches: list[dict]) -> None:
    """Forward + backward under bf16 autocast: matmuls in bf16, weights and gradients in fp32."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plain_loop(model, batches, step=False)


def scored(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, records: pa.Table, scoring: ScoringConfig
) -> tuple[int, list[float]]:
    """(prompt + scored generated tokens, the scores) of one `score_table` pass."""
    table = score_table(model, tokenizer, records, scoring)
    return sum(table["model_tokens"].to_pylist()), table["score"].to_pylist()


def main() -> None:
    parser = benchmark_parser(__doc__)
    add_demo_args(parser, samples=96, batch=16, repeats=2)
    parser.add_argument("--top-n", type=int, default=32)
    parser.add_argument("--train-samples", type=int, default=16, help="SFT samples, in batches of 8")
    parser.add_argument(
        "--matmul-only", action="store_true", help="only the matmul rates: for a CPU that emulates bfloat16"
    )
    args = parser.parse_args()
    if args.matmul_only:
        rates = {name: matmul_gflops(dtype=dtype) for name, dtype in PRECISIONS.items()}
        print(
            f"matmul 2048^3 on {torch.get_num_threads()} CPU threads ({torch.backends.cpu.get_cpu_capability()}): "
            f"float32 {rates['float32']:.1f} GFLOP/s, bfloat16 {rates['bfloat16']:.1f} GFLOP/s, "
            f"bf16 speed-up {rates['bfloat16'] / rates['float32']:.3f}x"
        )
        return

    cfg = {name: ModelConfig(dtype=name) for name in PRECISIONS}
    tokenizer = load_tokenizer(cfg["float32"])
    records = pool_records("demo", args.samples)
    scoring = ScoringConfig(mode="prefix", prefix_tokens=4, batch_size=args.batch)
    models = {name: load_model(c) for name, c in cfg.items()}
    warm = records.slice(0, args.batch)
    for model in models.values():  # thread pools, oneDNN kernels for each precision
        plain_forward(model, tokenizer, warm, args.batch)
        scorer(model, tokenizer, warm, scoring)

    best: dict[tuple[str, str], float] = {}
    gflops: dict[str, float] = {}
    tokens: dict[tuple[str, str], int] = {}
    scores: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, model in models.items():
            gflops[name] = max(gflops.get(name, 0.0), matmul_gflops(dtype=PRECISIONS[name]))
            seconds, tokens["forward", name] = timed(plain_forward, model, tokenizer, records, args.batch)
            best["forward", name] = min(best.get(("forward", name), math.inf), seconds)
            seconds, (tokens["scorer", name], scores[name]) = timed(scored, model, tokenizer, records, scoring)
            best["scorer", name] = min(best.get(("scorer", name), math.inf), seconds)

    batches, train_tokens = sft_batches(tokenizer, records.slice(0, args.train_samples), 8)
    train_rows = sum(len(b["input_ids"]) for b in batches)
    training = {
        "fp32 weights": best_on_fresh_model(cfg["float32"], lambda m: plain_loop(m, batches, step=False), args.repeats),
        "bf16 weights": best_on_fresh_model(
            cfg["bfloat16"], lambda m: plain_loop(m, batches, step=False), args.repeats
        ),
        "fp32 weights, bf16 autocast": best_on_fresh_model(
            cfg["float32"], lambda m: autocast_loop(m, batches), args.repeats
        ),
    }

    print(
        f"SmolLM2-135M on {torch.get_num_threads()} CPU threads ({torch.backends.cpu.get_cpu_capability()}), "
        f"{len(records)} demo samples, batches of {args.batch}; best of {args.repeats} interleaved repeats, "
        "model load not timed\n"
    )
    print("| pass | float32 s | bfloat16 s | bf16 speed-up | float32 tokens/s | bfloat16 tokens/s |")
    print("|---|---|---|---|---|---|")
    print(
        f"| matmul 2048^3 (GFLOP/s) | | | {gflops['bfloat16'] / gflops['float32']:.2f}x "
        f"| {gflops['float32']:.0f} | {gflops['bfloat16']:.0f} |"
    )
    for kind, label in (("forward", "plain forward (last position)"), ("scorer", "prefix k=4 scorer")):
        f32, b16 = best[kind, "float32"], best[kind, "bfloat16"]
        print(
            f"| {label} | {f32:.2f} | {b16:.2f} | {f32 / b16:.2f}x | {tokens[kind, 'float32'] / f32:.0f} "
            f"| {tokens[kind, 'bfloat16'] / b16:.0f} |"
        )
    print(f"\n| SFT forward + backward ({train_rows} samples, {train_tokens} tokens) | seconds | tokens/s | vs fp32 |")
    print("|---|---|---|---|")
    for label, seconds in training.items():
        print(f"| {label} | {seconds:.1f} | {train_tokens / seconds:.0f} | {training['fp32 weights'] / seconds:.2f}x |")
    agree = agreement(scores["bfloat16"], scores["float32"], args.top_n)
    print(
        f"\nbf16 scorer against fp32 scorer on {len(records)} samples: Spearman rho {agree['spearman']:.4f}, "
        f"Kendall tau {agree['kendall']:.4f}, top-{args.top_n} overlap {agree['top_overlap']:.3f}"
    )


if __name__ == "__main__":
    main()
