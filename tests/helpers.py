"""What the test files share besides fixtures: the tiny model's builder, a tiny run's config,
hand-made record tables, and headless Chromium. Fixtures stay in conftest.py, which uses these."""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_model(path: Path) -> Path:
    """A 2-layer Llama (hidden 32) with a byte-level BPE tokenizer trained on the demo task."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from edco.datasets import demo

    corpus = [r["question"] + " " + " ".join(r["choices"]) for r in demo.generate("pool", 0, 200)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|im_end|>", bos_token="<|im_start|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        initializer_range=0.3,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_config(tiny_model_dir: Path, root: Path, **overrides) -> dict:
    """A small but complete run config as a dict (what a YAML file would hold)."""
    cfg = {
        "run_name": "tiny",
        "seed": 7,
        "model": {"name": str(tiny_model_dir), "max_length": 1024},
        "data": {"pool": "demo", "eval": "demo", "limit": 24, "eval_limit": 12},
        "scoring": {"mode": "prefix", "prefix_tokens": 4, "batch_size": 5},
        "selection": {"strategy": "edco", "top_n": 8},
        "curriculum": {"intervals": 2},
        "training": {"epochs": 1, "batch_size": 4, "lr": 1e-3},
        "storage": {"root": str(root)},
    }
    for key, value in overrides.items():
        section, _, field = key.partition(".")
        if field:
            cfg[section] = {**cfg.get(section, {}), field: value}
        else:
            cfg[section] = value
    return cfg


def make_records(questions: list[str], ids: list[str] | None = None):
    """A record table in the loader's schema, for tests that do not need a file."""
    import pyarrow as pa

    n = len(questions)
    return pa.table(
        {
            "id": ids or [f"q{i:03d}" for i in range(n)],
            "question": questions,
            "choices": [
                ["link down", "fan failure", "BGP hold timer expired", "CPU overload"][: 2 + i % 3] for i in range(n)
            ],
            "answer": pa.array([i % 2 for i in range(n)], pa.int32()),
            "category": ["cat"] * n,
            "row": pa.array(range(1, n + 1), pa.int64()),
        }
    )


QUESTIONS = [
    "Interface GE1/0/1 went down.",
    "Jan 3 10:00:01 CE-SW01 %%01IFNET/4/LINK_STATE: GE1/0/2 DOWN. Jan 3 10:00:05 CRC errors rising on GE1/0/2.",
    "BGP peer 10.0.0.2 state changed from Established to Idle.",
    "Fan tray 2 failed; temperature 78C.",
    "OSPF neighbor stuck in ExStart.",
    "RADIUS server 10.9.9.9 not responding, authentication failed for user admin after 3 retries.",
    "CPU usage 97% for 5 minutes.",
]


def headless(chromium: str, url: str, profile: Path, *args: str, timeout: int = 120) -> str:
    """Chromium without a screen, with the flags this machine's closed network needs; its stdout."""
    import subprocess

    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
        url,
    ]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout).stdout


def choice(question: str, choices: list[str], answer: int = 0) -> dict:
    """One choice record as the prompt builders read it (`edco.data.kinds.rows`)."""
    return {"kind": "choice", "question": question, "choices": choices, "answer": answer}


class JudgeServer:
    """`tests.judge_server` in a child process: started by the test, stopped by its PID."""

    def __init__(self, log: Path, *flags: str) -> None:
        import subprocess
        import sys

        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.judge_server", "--log", str(log), *flags],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[1],
        )
        port = self.proc.stdout.readline().split()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def asked(self) -> list[str]:
        """The user message of every request the server received, in arrival order."""
        import json

        if not self.log.exists():
            return []
        return [json.loads(line)["content"] for line in self.log.read_text().splitlines()]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)

    def __enter__(self) -> JudgeServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


REFERENCES = ["A fiber cut on the link.", "CRC errors: a dirty fiber.", "The BGP hold timer expired.", "Fan failure."]


def make_free_form_records(kind: str, questions: list[str], references: list[str] | None = None):
    """Reference or chat records in the loader's schema: question i answered by reference i (cycled)."""
    import pyarrow as pa

    from edco.data.kinds import SCHEMAS

    answers = references or REFERENCES
    rows = []
    for i, question in enumerate(questions):
        answer = answers[i % len(answers)]
        base = {"id": f"{kind[0]}{i:03d}", "category": "cat", "row": i + 1}
        if kind == "reference":
            context = "Seen on CE-SW01." if i % 2 else None
            rows.append(
                {
                    **base,
                    "question": question,
                    "context": context,
                    "system": None,
                    "reference": answer,
                    "references": [],
                }
            )
        else:
            turns = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            rows.append({**base, "messages": turns, "question": question})
    return pa.Table.from_pylist(rows, schema=SCHEMAS[kind])
