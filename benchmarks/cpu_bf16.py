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
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from benchmarks.scorer_speed import matmul_gflops, plain_forward, scorer
from benchmarks.train_speed import plain_loop, right_padded, timed
from edco.config.schema import ColumnMap, ModelConfig, ScoringConfig
from edco.datasets.readers import load_records
from edco.models.loading import load_model, load_tokenizer
from edco.scoring.agreement import agreement
from edco.scoring.entropy import score_table
from edco.training.trainers import sft_dataset

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def autocast_loop(model: torch.nn.Module, batches: list[dict]) -> None:
    """Forward + backward under bf16 autocast: matmuls in bf16, weights and gradients in fp32."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plain_loop(model, batches, step=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=96)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--top-n", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=16, help="SFT samples, in batches of 8")
    args = parser.parse_args()

    cfg = {name: ModelConfig(dtype=name) for name in PRECISIONS}
    tokenizer = load_tokenizer(cfg["float32"])
    records = load_records("demo", ColumnMap(), limit=args.samples, seed=0, split="pool").table
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
            for kind in ("forward", "scorer"):
                start = time.perf_counter()
                if kind == "forward":
                    tokens[kind, name] = plain_forward(model, tokenizer, records, args.batch)
                else:
                    table = score_table(model, tokenizer, records, scoring)
                    tokens[kind, name], scores[name] = (
                        sum(table["model_tokens"].to_pylist()),
                        table["score"].to_pylist(),
                    )
                best[kind, name] = min(best.get((kind, name), math.inf), time.perf_counter() - start)

    dataset = sft_dataset(tokenizer, records.slice(0, args.train_samples))
    rows = [dataset[i] for i in range(len(dataset))]
    batches = [right_padded(rows[i : i + 8], tokenizer.pad_token_id) for i in range(0, len(rows), 8)]
    train_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    training = {
        "fp32 weights": timed(cfg["float32"], lambda m: plain_loop(m, batches, step=False), args.repeats),
        "bf16 weights": timed(cfg["bfloat16"], lambda m: plain_loop(m, batches, step=False), args.repeats),
        "fp32 weights, bf16 autocast": timed(cfg["float32"], lambda m: autocast_loop(m, batches), args.repeats),
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
    print(f"\n| SFT forward + backward ({len(rows)} samples, {train_tokens} tokens) | seconds | tokens/s | vs fp32 |")
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
