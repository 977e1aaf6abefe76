"""Entropy scoring on one GPU at Qwen3-4B's shape: does one H200 reach 25 samples/s?

What it answers: the published scorer needs 8 accelerators for 0.04 s per sample; does
edco's scorer (`edco.scoring.entropy.score_table`) on one H200 match that, i.e. score at least
25 samples/s, for the Qwen3-4B architecture in bf16 with 128-token quick answers? The
weights are random (speed does not depend on them, and no model hub is reachable on the
GPU machine): the model is built from a config, directly on the device.

Per batch size it scores demo pool records with `ScoringConfig(mode="prefix",
prefix_tokens=128, batch_size=B)` after one untimed warm-up batch, then once with
`ScoringConfig(estimator="published")` (temperature 0.7, top-p 0.7, top-20 logprobs, 128
tokens) at the fastest batch size. It reports samples/s, generated tokens/s, peak GPU
memory (`torch.cuda.max_memory_allocated`), and model FLOP utilisation estimated as
2 x parameters x (prompt + generated tokens) per second over the bf16 dense peak
(`--peak-tflops`, 989 for an H200 SXM). Prints one Markdown table, with a header line and a
verdict line, and writes the same to $OUT/gpu_scorer.md when OUT is set.

Model shape: Qwen/Qwen3-4B's config.json (hidden 2560, intermediate 9728, 36 layers, 32
query / 8 key-value heads, head_dim 128, vocab 151936, 40960 positions, rope_theta 1e6,
tied embeddings, rms_norm_eps 1e-6; its model card: 4.0B parameters, 36 layers, GQA 32/8).
No hub was reachable where this was written: the values were checked against copies of that
config in public code (via the project's search tool), not against the hub. transformers
5.24's `Qwen3Config` defaults are an 8B-style shape, so every field is set explicitly; 5.x
turns `rope_theta` into `rope_parameters` and takes `dtype` (4.x: `torch_dtype`) in
`from_config`; the script checks the resulting dtype.

Tokenizer: no Qwen tokenizer is available offline, so the project's SmolLM2 tokenizer
writes the prompts (demo prompts are ~390 tokens with it). Its ids are all below 49152, so
they are valid, unchanged, in Qwen's 151936-token vocabulary (checked at start-up). Its EOS
is cleared on the loaded copy, so `eos_ids` finds none and every sample generates exactly
128 tokens whatever the random model emits; the table shows the mean per sample.

Records are ordered longest prompt first, as `score_table` orders them, and scored one
batch per `score_table` call so that `--max-seconds` can stop a setting between batches
(the longest prompts come first, so a capped setting is slightly pessimistic).

Here (CPU smoke test, tiny 2-layer model), and once to save the tokenizer for the device:

    .venv/bin/python -m benchmarks.gpu_scorer --tiny --device cpu --samples 8 --batch-sizes 4 --dtype float32
    .venv/bin/python -m benchmarks.gpu_scorer --save-tokenizer benchmarks/smollm2-tokenizer

On the GPU machine (one command for the device tool; a few minutes, within ~8 min):

    python -m benchmarks.gpu_scorer --tokenizer-dir benchmarks/smollm2-tokenizer \\
        --samples 512 --batch-sizes 16,32,64,128

It needs there: torch with CUDA, transformers (5.x; 4.56+ should do), pyarrow, pydantic and
PyYAML (what `edco.config.schema`/`edco.data.records` import), and the edco package (the repo
copy, which `-m` puts on sys.path from the checkout's root). The SmolLM2 tokenizer cache in
~/.cache/edco/models will not exist on that machine, hence `--tokenizer-dir` with a folder
written by `--save-tokenizer` and carried in the working tree (about 3.5 MB).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen3Config,
)

from benchmarks.harness import benchmark_parser, pool_records, prompt_lengths
from edco.config.schema import ModelConfig, ScoringConfig
from edco.data.prompts import chat_prompts
from edco.models.loading import load_tokenizer
from edco.scoring.entropy import eos_ids, score_table

GOAL_SAMPLES_PER_S = 25.0  # the published scorer: 0.04 s per sample on 8 accelerators
TOKENIZER_MODEL = "smollm2-135m-instruct"
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}

QWEN3_4B = {  # Qwen/Qwen3-4B config.json
    "hidden_size": 2560,
    "intermediate_size": 9728,
    "num_hidden_layers": 36,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151936,
    "max_position_embeddings": 40960,
    "rope_theta": 1_000_000.0,
    "tie_word_embeddings": True,
    "rms_norm_eps": 1e-6,
}
TINY = {
    **QWEN3_4B,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
}


@dataclass
class Result:
    setting: str
    batch_size: int
    samples: int = 0
    seconds: float = math.nan
    generated: int = 0  # tokens generated, summed over samples
    processed: int = 0  # prompt + generated tokens, summed over samples (no padding)
    mean_score: float = math.nan
    peak_gib: float | None = None
    failure: str | None = None

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.samples else math.nan


def build_model(shape: dict, device: torch.device, dtype: torch.dtype, attn: str) -> PreTrainedModel:
    """Random weights of `shape`, created on `device` so a 4B model never materialises on the CPU."""
    with device:
        model = AutoModelForCausalLM.from_config(Qwen3Config(**shape), dtype=dtype, attn_implementation=attn)
    if model.dtype != dtype or model.device.type != device.type:
        raise SystemExit(f"model built as {model.dtype} on {model.device}, not {dtype} on {device}")
    model.generation_config.eos_token_id = None  # with the tokenizer's EOS cleared: no stop token at all
    return model.eval()


def scoring_tokenizer(folder: Path | None) -> PreTrainedTokenizerBase:
    """SmolLM2's tokenizer (the embedded cache, or a folder saved by --save-tokenizer), left padding."""
    if folder is not None and not folder.is_dir():
        raise SystemExit(f"--tokenizer-dir {folder}: no such folder (write one with --save-tokenizer)")
    return load_tokenizer(ModelConfig(name=str(folder.resolve()) if folder else TOKENIZER_MODEL))


def never_stop(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> None:
    """Make every sample generate its full budget: clear the EOS that `score_table` stops at."""
    if len(tokenizer) > model.config.vocab_size:
        raise SystemExit(f"tokenizer has {len(tokenizer)} ids, more than the model's {model.config.vocab_size}")
    tokenizer.eos_token = None  # padding keeps its own token (<|im_end|>, id 2)
    if tokenizer.pad_token_id is None or eos_ids(tokenizer, model):
        raise SystemExit(f"cannot disable EOS: pad {tokenizer.pad_token_id}, eos {eos_ids(tokenizer, model)}")


def longest_first(records: pa.Table, tokenizer: PreTrainedTokenizerBase, instruction: str) -> pa.Table:
    """The records longest prompt first, as `score_table` orders them before it batches them."""
    prompts = chat_prompts(tokenizer, records, instruction)
    lengths = prompt_lengths(tokenizer, prompts)
    return records.take(sorted(range(len(prompts)), key=lambda i: (-lengths[i], i)))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: pa.Table,
    cfg: ScoringConfig,
    setting: str,
    max_seconds: float,
) -> Result:
    """One warm-up batch (untimed), then batches until the records or `max_seconds` run out."""
    result = Result(setting, cfg.batch_size)
    device = model.device
    ordered = longest_first(records, tokenizer, cfg.instruction)
    batches = [ordered.slice(i, cfg.batch_size) for i in range(0, ordered.num_rows, cfg.batch_size)]
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(0)  # the published estimator samples
    try:
        score_table(model, tokenizer, batches[0], cfg)
        tables = []
        synchronize(device)
        start = time.perf_counter()
        for batch in batches:
            tables.append(score_table(model, tokenizer, batch, cfg))
            if time.perf_counter() - start > max_seconds:
                break
        synchronize(device)
        result.seconds = time.perf_counter() - start
    except torch.cuda.OutOfMemoryError as exc:
        result.failure = f"out of memory ({str(exc).splitlines()[0][:80]})"
        return result
    finally:
        if device.type == "cuda":
            result.peak_gib = torch.cuda.max_memory_allocated(device) / 2**30
    scores = pa.concat_tables(tables)
    result.samples = scores.num_rows
    result.generated = sum(scores["n_tokens"].to_pylist())
    result.processed = sum(scores["model_tokens"].to_pylist())
    result.mean_score = sum(scores["score"].to_pylist()) / scores.num_rows
    return result


def table(results: list[Result], params: int, peak_flops: float | None) -> str:
    lines = [
        (
            "| setting | batch | samples | seconds | samples/s | generated tok/s | new tokens/sample | "
            "prompt tokens/sample | peak GPU GiB | MFU | mean score |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        peak = f"{r.peak_gib:.1f}" if r.peak_gib is not None else "-"
        if r.failure:
            lines.append(f"| {r.setting} | {r.batch_size} | {r.failure} | | | | | | {peak} | | |")
            continue
        mfu = f"{2 * params * r.processed / r.seconds / peak_flops:.1%}" if peak_flops else "-"
        lines.append(
            f"| {r.setting} | {r.batch_size} | {r.samples} | {r.seconds:.1f} | {r.samples_per_s:.1f} "
            f"| {r.generated / r.seconds:.0f} | {r.generated / r.samples:.1f} "
            f"| {(r.processed - r.generated) / r.samples:.0f} | {peak} | {mfu} | {r.mean_score:.3f} |"
        )
    return "\n".join(lines)


def verdict(results: list[Result]) -> str:
    def best(prefix: str) -> Result | None:
        done = [r for r in results if r.setting.startswith(prefix) and not r.failure]
        return max(done, key=lambda r: r.samples_per_s, default=None)

    parts = []
    for label, r in (("edco prefix-128", best("edco")), ("published preset", best("published"))):
        if r is None:
            parts.append(f"{label}: no result")
        else:
            status = "MEETS" if r.samples_per_s >= GOAL_SAMPLES_PER_S else "BELOW"
            parts.append(f"{label} {r.samples_per_s:.1f} samples/s at batch {r.batch_size} ({status})")
    return f"Verdict vs the {GOAL_SAMPLES_PER_S:.0f} samples/s goal: " + "; ".join(parts)


def header(
    model: PreTrainedModel, device: torch.device, args: argparse.Namespace, records: int, peak_flops: float | None
) -> str:
    where = (
        f"{torch.cuda.get_device_name(device)} "
        f"({torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB)"
        if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    )
    shape = "tiny Qwen3 (2 layers, hidden 64)" if args.tiny else "Qwen3-4B shape"
    peak = (
        f"MFU = 2 x params x (prompt + generated tokens)/s over {peak_flops / 1e12:.0f} TFLOPS dense peak"
        if peak_flops
        else "MFU not estimated on CPU"
    )
    return (
        f"{where}; torch {torch.__version__}, transformers {transformers.__version__}; {shape}, random weights, "
        f"{model.num_parameters():,} params, {args.dtype}, attention {model.config._attn_implementation}; "
        f"{records} demo pool records, SmolLM2 tokenizer, 128 new tokens forced (EOS disabled); warm-up batch "
        f"untimed, at most {args.max_seconds:.0f} s per setting; {peak}"
    )


def save_tokenizer(folder: Path) -> None:
    load_tokenizer(ModelConfig(name=TOKENIZER_MODEL)).save_pretrained(folder)
    for f in sorted(folder.iterdir()):
        print(f"{f}  {f.stat().st_size:,} bytes")


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--batch-sizes", default="16,32,64,128")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="timed seconds per setting, checked per batch")
    parser.add_argument(
        "--no-published",
        dest="published",
        action="store_false",
        help="skip the published-preset run at the fastest batch size",
    )
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bfloat16")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--attn", default="sdpa", help="attn_implementation passed to from_config")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak; H200 SXM: 989")
    parser.add_argument("--tiny", action="store_true", help="2-layer hidden-64 Qwen3, for a CPU smoke test")
    parser.add_argument("--tokenizer-dir", type=Path, help="a folder written by --save-tokenizer")
    parser.add_argument("--save-tokenizer", type=Path, metavar="PATH", help="save the SmolLM2 tokenizer and exit")
    args = parser.parse_args()
    if args.save_tokenizer:
        save_tokenizer(args.save_tokenizer)
        return
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible: this benchmark needs a GPU (only --tiny may run with --device cpu)")
    if device.type != "cuda" and not args.tiny:
        raise SystemExit(f"--device {args.device}: the Qwen3-4B shape runs on CUDA only; use --tiny for a smoke test")

    started = time.perf_counter()
    tokenizer = scoring_tokenizer(args.tokenizer_dir)
    model = build_model(TINY if args.tiny else QWEN3_4B, device, DTYPES[args.dtype], args.attn)
    never_stop(tokenizer, model)
    records = pool_records("demo", args.samples)
    results = [
        measure(
            model,
            tokenizer,
            records,
            ScoringConfig(mode="prefix", prefix_tokens=128, batch_size=b),
            "edco prefix-128, greedy",
            args.max_seconds,
        )
        for b in (int(s) for s in args.batch_sizes.split(","))
    ]
    done = [r for r in results if not r.failure]
    if args.published and done:
        fastest = max(done, key=lambda r: r.samples_per_s).batch_size
        results.append(
            measure(
                model,
                tokenizer,
                records,
                ScoringConfig(estimator="published", batch_size=fastest),
                "published preset (T 0.7, top-p 0.7, top-20)",
                args.max_seconds,
            )
        )

    peak_flops = args.peak_tflops * 1e12 if device.type == "cuda" else None
    report = "\n\n".join(
        [
            header(model, device, args, records.num_rows, peak_flops),
            table(results, model.num_parameters(), peak_flops),
            verdict(results),
            f"Whole script: {time.perf_counter() - started:.0f} s.",
        ]
    )
    print(report)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_scorer.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
