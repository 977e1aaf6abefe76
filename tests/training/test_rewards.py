"""The answer extractor and the GRPO reward: real default-model completions, then every stated format."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from edco.training.rewards import answer_reward, completion_text, extract_choice, no_answer_count

DATA = Path(__file__).parents[1] / "data" / "smollm2_demo_completions.jsonl"
REAL = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]

FOUR = ["Fiber cut", "Speed/duplex mismatch", "Optical receive power too low", "BGP hold timer expired"]


def test_real_completions_are_many_and_all_labelled() -> None:
    assert len(REAL) >= 40
    assert all("expected" in row for row in REAL), "label new rows by reading them (see make_smollm2_completions.py)"


def test_real_completions_have_reward_variance() -> None:
    """The point of a robust extractor: some real groups hold both a right and a wrong answer."""
    groups: dict[str, set[bool]] = {}
    for row in REAL:
        groups.setdefault(row["id"], set()).add(row["expected"] == row["answer"])
    assert sum(len(outcomes) == 2 for outcomes in groups.values()) >= 3


@pytest.mark.parametrize("row", REAL, ids=[f"{r['id']}-{r['sampling']}" for r in REAL])
def test_real_completion(row: dict) -> None:
    assert extract_choice(row["completion"], row["choices"]) == row["expected"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # letters opening the reply
        ("B", 1),
        ("B.", 1),
        ("B)", 1),
        ("(B)", 1),
        ("[B]", 1),
        ("**B**", 1),
        ("B: Speed/duplex mismatch", 1),
        ("  C\n", 2),
        ("(b)", 1),
        ("A - Fiber cut", 0),
        # answer statements
        ("The answer is B", 1),
        ("Answer: b", 1),
        ("the answer is (c)", 2),
        ("Option B", 1),
        ("the correct option is B.", 1),
        ("**Answer:** D", 3),
        ("The answer is option C because the optics are dirty.", 2),
        ("I think the answer is a.", 0),
        # Chinese and full-width forms
        ("答案：B", 1),
        ("答案是B", 1),
        ("答案是：Ｃ", 2),
        ("选B", 1),
        ("B。", 1),
        ("（B）", 1),
        ("Ｂ", 1),
        ("正确答案为（d）", 3),
        # the option's text
        ("Speed/duplex mismatch", 1),
        ("  speed/DUPLEX   mismatch. ", 1),
        ("Optical receive power too low, because Rx is -25 dBm.", 2),
        ("It looks like BGP hold timer expired on the peer.", 3),
        # first explicit statement wins over a later contradicting one
        ("B. Speed/duplex mismatch\n\nAnswer: C", 1),
        ("The answer is D. Option A is also possible.", 3),
        ("A. Speed/duplex mismatch", 0),
        ("Fiber cut, or else Speed/duplex mismatch", 0),
        # a named-but-rejected option is no statement
        ("Option A is incorrect; the answer is C", 2),
        # no answer
        ("", None),
        ("I don't know.", None),
        ("E", None),
        ("The answer is E", None),
        ("a", None),
        ("b.", None),
        ("It is a fiber problem, maybe a bad cable.", None),
        ("A broadcast storm is flooding the network.", None),
        ("The answer is a cable problem somewhere.", None),
        ("Which option is the most likely root cause (A)?", None),
        ("A. Fiber cut\nB. Speed/duplex mismatch\nC. Optical receive power too low", None),
        ("Either a fiber cut or a speed/duplex mismatch.", None),
        ("Degraded transceiver optics", None),
    ],
)
def test_format(text: str, expected: int | None) -> None:
    assert extract_choice(text, FOUR) == expected


def test_recital_with_a_stated_answer_counts_the_statement() -> None:
    assert extract_choice("A. Fiber cut\nB. Speed/duplex mismatch\nAnswer: B", FOUR) == 1


def test_letters_beyond_the_options_are_no_answer() -> None:
    assert extract_choice("C", ["yes", "no"]) is None
    assert extract_choice("C", ["yes", "no", "maybe"]) == 2
    assert extract_choice("Answer: J", [str(i) for i in range(10)]) == 9


def test_completion_text_of_both_trl_shapes() -> None:
    assert completion_text("B. Fiber cut") == "B. Fiber cut"
    assert completion_text([{"role": "assistant", "content": "B. Fiber cut"}]) == "B. Fiber cut"
    parts = [{"role": "assistant", "content": [{"type": "text", "text": "Answer: "}, {"type": "text", "text": "B"}]}]
    assert completion_text(parts) == "Answer: B"


def test_answer_reward_for_string_completions() -> None:
    completions = ["The answer is B", "A.", "no idea"]
    rewards = answer_reward(["p"] * 3, completions, answer=[1, 1, 1], choices=[FOUR] * 3)
    assert rewards == [1.0, 0.0, 0.0]


def test_answer_reward_for_conversational_completions() -> None:
    prompts = [[{"role": "user", "content": "q"}]] * 2
    completions = [
        [{"role": "assistant", "content": "C. Optical receive power too low"}],
        [{"role": "assistant", "content": "答案：A"}],
    ]
    assert answer_reward(prompts, completions, answer=[2, 3], choices=[FOUR] * 2) == [1.0, 0.0]


def test_answer_reward_logs_no_answer_fraction() -> None:
    logged: list[tuple[str, float]] = []
    completions = ["B", "hmm", "E", "Option D"]
    answer_reward(
        ["p"] * 4,
        completions,
        answer=[1, 0, 0, 3],
        choices=[FOUR] * 4,
        log_metric=lambda name, value: logged.append((name, value)),
        trainer_state=None,
    )
    assert logged == [("no_answer_frac", 0.5)]


def test_answer_reward_accepts_trl_keywords_without_log_metric() -> None:
    rewards = answer_reward(["p"], ["D"], answer=[3], choices=[FOUR], completion_ids=[[1, 2]], log_extra=print)
    assert rewards == [1.0]


def test_no_answer_count() -> None:
    completions = ["B", "hmm", [{"role": "assistant", "content": "E"}], "Option D", ""]
    assert no_answer_count(completions, [FOUR] * 5) == 3
    assert no_answer_count([], []) == 0


def test_real_completions_distribution() -> None:
    """Pins what the report quotes: how often the default model answers, and with which letter."""
    counts = Counter("none" if row["expected"] is None else "ABCD"[row["expected"]] for row in REAL)
    assert no_answer_count([r["completion"] for r in REAL], [r["choices"] for r in REAL]) == counts["none"]
    assert counts == Counter({"A": 26, "none": 13, "C": 5, "B": 3, "D": 1})


def test_rewards_module_stays_light() -> None:
    code = "import sys, edco.training.rewards; print(sorted({'torch', 'prefect', 'mlflow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
