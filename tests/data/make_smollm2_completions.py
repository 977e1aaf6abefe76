"""Regenerate `smollm2_demo_completions.jsonl`: real completions of the default model on the demo task.

Why: the GRPO reward is only as good as the answer extractor, and the default model rarely
answers with a bare letter ("The answer is A", "B. Fiber cut ..."). The extractor's table
test reads these completions, so it is checked against what the model really writes.

Each demo pool item gets one greedy completion and `--samples` sampled ones (temperature 1.0,
as GRPO samples), each sampled one seeded with `torch.manual_seed`, 32 new tokens, quick
instruction. `expected` is a human label (0-based option, or null for no answer), never
computed: rows whose (id, sampling, completion) already exist keep their label, new rows
are written without `expected` and the table test fails until someone reads and labels them.

Run from the repository root (16 minutes on the shared 2-core CPU when it was written):

    .venv/bin/python tests/data/make_smollm2_completions.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from edco.config.schema import ModelConfig
from edco.data.prompts import chat_prompt
from edco.datasets import demo
from edco.models.loading import load_model, load_tokenizer
from tests.helpers import choice

OUT = Path(__file__).with_name("smollm2_demo_completions.jsonl")
MAX_NEW_TOKENS = 32


def generate(model, tokenizer, prompt: str, seed: int | None) -> str:
    """One completion, decoded from the new tokens only; greedy when `seed` is None."""
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    sampling = (
        {"do_sample": False} if seed is None else {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
    )
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, pad_token_id=tokenizer.pad_token_id, **sampling)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def existing_labels(path: Path) -> dict[tuple[str, str, str], int | None]:
    """Human labels already in the file, keyed by what they were given for."""
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["id"], r["sampling"], r["completion"]): r["expected"] for r in rows if "expected" in r}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=16, help="demo pool items (seed 0)")
    parser.add_argument("--samples", type=int, default=2, help="sampled completions per item, besides the greedy one")
    args = parser.parse_args()

    model, tokenizer = load_model(ModelConfig()), load_tokenizer(ModelConfig())
    model.eval()
    labels = existing_labels(OUT)
    rows = []
    for k, item in enumerate(demo.generate("pool", 0, args.items)):
        prompt = chat_prompt(tokenizer, choice(item["question"], item["choices"]), "quick")
        seeds = [None] + [1000 * k + s for s in range(args.samples)]
        for seed in seeds:
            sampling = "greedy" if seed is None else f"seed={seed}"
            completion = generate(model, tokenizer, prompt, seed)
            row = {
                "id": item["id"],
                "sampling": sampling,
                "choices": item["choices"],
                "answer": item["answer"],
                "completion": completion,
            }
            key = (item["id"], sampling, completion)
            if key in labels:
                row["expected"] = labels[key]
            rows.append(row)
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    unlabelled = sum("expected" not in r for r in rows)
    print(f"wrote {len(rows)} completions to {OUT} ({unlabelled} need a human `expected` label)")


if __name__ == "__main__":
    main()
