"""Training throughput through TRL against a plain loop, on the default model and the demo task.

What it answers: how much does handing the loop to TRL's SFTTrainer cost, against a plain
forward + backward (and + AdamW step) of exactly the same batches; and how long one GRPO
iteration takes at the demo's settings. All variants run in one process, one after the
other, on the same records, so the ratios compare like with like. Prints one Markdown table.

    .venv/bin/python -m benchmarks.train_speed [--samples 32] [--batch 8] [--repeats 2]
"""

from __future__ import annotations

import torch

from benchmarks.harness import (
    add_demo_args,
    benchmark_parser,
    best_on_fresh_model,
    plain_loop,
    pool_records,
    sft_batches,
    timed,
)
from edco.config.schema import GrpoConfig, ModelConfig, TrainingConfig
from edco.models.loading import load_model, load_tokenizer
from edco.training.trainers import train_grpo, train_sft


def main() -> None:
    parser = benchmark_parser(__doc__)
    add_demo_args(parser, samples=32, batch=8, repeats=2)
    parser.add_argument("--grpo-steps", type=int, default=3)
    args = parser.parse_args()
    cfg = ModelConfig()
    tokenizer = load_tokenizer(cfg)
    records = pool_records("demo", args.samples)
    batches, tokens = sft_batches(tokenizer, records, args.batch)
    sft_cfg = TrainingConfig(batch_size=args.batch, lr=1e-5)

    results = {
        "plain forward + backward": best_on_fresh_model(
            cfg, lambda m: plain_loop(m, batches, step=False), args.repeats
        ),
        "plain forward + backward + AdamW": best_on_fresh_model(
            cfg, lambda m: plain_loop(m, batches, step=True), args.repeats
        ),
        "TRL SFTTrainer (edco.training.trainers.train_sft)": best_on_fresh_model(
            cfg, lambda m: train_sft(m, tokenizer, records, sft_cfg, seed=0), args.repeats
        ),
    }
    print(
        f"SmolLM2-135M fp32 on {torch.get_num_threads()} CPU threads, {len(records)} demo samples "
        f"in {len(batches)} batches of {args.batch}, {tokens} tokens; best of {args.repeats}, model load not timed\n"
    )
    print("| training path | seconds | tokens/s | vs plain fwd+bwd |")
    print("|---|---|---|---|")
    floor = results["plain forward + backward"]
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.1f} | {tokens / seconds:.0f} | {floor / seconds:.2f}x |")

    grpo = GrpoConfig(num_generations=4, iterations=args.grpo_steps, max_completion_length=16)
    grpo_cfg = TrainingConfig(method="grpo", batch_size=2, lr=5e-6, grpo=grpo)
    seconds, stats = timed(
        lambda: train_grpo(load_model(cfg, training=True), tokenizer, records.slice(0, 8), grpo_cfg, seed=0)
    )
    print("\n| GRPO (TRL GRPOTrainer) | iterations | seconds | seconds per iteration | completion tokens (mean) |")
    print("|---|---|---|---|---|")
    print(
        f"| 2 prompts x 4 completions, <= 16 new tokens | {stats.steps} | {seconds:.1f} | {seconds / stats.steps:.1f} "
        f"| {stats.summary['completion_length']:.1f} |"
    )


if __name__ == "__main__":
    main()
