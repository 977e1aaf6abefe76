"""Training throughput through TRL against a plain loop, on the default model and the demo task.

What it answers: how much does handing the loop to TRL's SFTTrainer cost, against a plain
forward + backward (and + AdamW step) of exactly the same batches; and how long one GRPO
iteration takes at the demo's settings. All variants run in one process, one after the
other, on the same records, so the ratios compare like with like. Prints one Markdown table.

    .venv/bin/python benchmarks/train_speed.py [--samples 32] [--batch 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from edco.config.schema import ColumnMap, GrpoConfig, ModelConfig, TrainingConfig
from edco.datasets.readers import load_records
from edco.models.loading import load_model, load_tokenizer
from edco.training.trainers import sft_dataset, train_grpo, train_sft


def right_padded(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """The batch TRL's collator builds: right padding, labels -100 outside the completion."""
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


def plain_loop(model, batches: list[dict], step: bool) -> None:
    """Forward + backward of each batch (and an AdamW step when `step`): the floor TRL is compared to."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()
    for batch in batches:
        model(**batch).loss.backward()
        if step:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def timed(cfg: ModelConfig, fn: Callable[[torch.nn.Module], object], repeats: int) -> float:
    """Best of `repeats` wall times of `fn` on a freshly loaded model (the load is not timed):
    the best is the run least disturbed by other work on the machine."""
    best = float("inf")
    for _ in range(repeats):
        model = load_model(cfg, training=True)
        start = time.perf_counter()
        fn(model)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--grpo-steps", type=int, default=3)
    args = parser.parse_args()
    cfg = ModelConfig()
    tokenizer = load_tokenizer(cfg)
    records = load_records("demo", ColumnMap(), limit=args.samples, split="pool").table
    dataset = sft_dataset(tokenizer, records)
    rows = [dataset[i] for i in range(len(dataset))]
    batches = [right_padded(rows[i : i + args.batch], tokenizer.pad_token_id) for i in range(0, len(rows), args.batch)]
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    sft_cfg = TrainingConfig(batch_size=args.batch, lr=1e-5)

    results = {
        "plain forward + backward": timed(cfg, lambda m: plain_loop(m, batches, step=False), args.repeats),
        "plain forward + backward + AdamW": timed(cfg, lambda m: plain_loop(m, batches, step=True), args.repeats),
        "TRL SFTTrainer (edco.training.trainers.train_sft)": timed(
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
    start = time.perf_counter()
    stats = train_grpo(load_model(cfg, training=True), tokenizer, records.slice(0, 8), grpo_cfg, seed=0)
    seconds = time.perf_counter() - start
    print("\n| GRPO (TRL GRPOTrainer) | iterations | seconds | seconds per iteration | completion tokens (mean) |")
    print("|---|---|---|---|---|")
    print(
        f"| 2 prompts x 4 completions, <= 16 new tokens | {stats.steps} | {seconds:.1f} | {seconds / stats.steps:.1f} "
        f"| {stats.summary['completion_length']:.1f} |"
    )


if __name__ == "__main__":
    main()
