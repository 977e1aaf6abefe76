"""The built-in demo task: deterministic, prefix-stable, disjoint splits, short prompts."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from edco.datasets import demo


@pytest.fixture(scope="module")
def pool() -> list[dict]:
    return demo.generate("pool")


@pytest.fixture(scope="module")
def eval_items() -> list[dict]:
    return demo.generate("eval")


def _vendor(record: dict) -> str:
    header = record["question"].splitlines()[0]
    return next(v for v in demo.VENDORS if header.startswith(demo._VENDORS[v]["display"] + " "))


def test_public_tables() -> None:
    assert len(demo.CATEGORIES) >= 8 and len(set(demo.CATEGORIES)) == len(demo.CATEGORIES)
    assert len(demo.VENDORS) >= 3
    assert all(c.islower() and " " not in c for c in demo.CATEGORIES)
    descriptions = [demo._CATEGORIES[c]["description"] for c in demo.CATEGORIES]
    assert len(set(descriptions)) == len(descriptions)
    for spec in demo._CATEGORIES.values():
        assert len(spec["close"]) >= 3 and spec["description"] not in spec["close"]
        for key in spec["cause"] + spec["symptoms"]:
            assert set(demo._EVENTS[key]) == set(demo.VENDORS)


def test_sizes_and_ids(pool: list[dict], eval_items: list[dict]) -> None:
    assert len(pool) == demo.POOL_SIZE == 2000
    assert len(eval_items) == demo.EVAL_SIZE == 300
    assert [r["id"] for r in pool] == [f"pool-{i:05d}" for i in range(2000)]
    assert [r["id"] for r in eval_items] == [f"eval-{i:05d}" for i in range(300)]
    assert set(pool[0]) == {"id", "question", "choices", "answer", "category"}


def test_deterministic(pool: list[dict]) -> None:
    assert demo.generate("pool") == pool
    assert demo.generate("eval", seed=7, n=50) == demo.generate("eval", seed=7, n=50)


def test_seeds_differ(pool: list[dict]) -> None:
    other = demo.generate("pool", seed=1, n=200)
    assert sum(a["question"] != b["question"] for a, b in zip(pool, other)) > 190


def test_prefix_stable() -> None:
    full = demo.generate("eval", seed=3)
    assert demo.generate("eval", seed=3, n=37) == full[:37]
    assert demo.generate("eval", seed=3, n=0) == []


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        demo.generate("train")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        demo.generate("pool", n=-1)


def test_eval_disjoint_from_pool(pool: list[dict], eval_items: list[dict]) -> None:
    assert not {r["question"] for r in pool} & {r["question"] for r in eval_items}
    assert len({r["question"] for r in pool}) == len(pool)


def test_record_contract(pool: list[dict], eval_items: list[dict]) -> None:
    for r in pool + eval_items:
        assert r["category"] in demo.CATEGORIES
        assert len(r["choices"]) == 4 and len(set(r["choices"])) == 4
        assert 0 <= r["answer"] < 4
        correct = demo._CATEGORIES[r["category"]]["description"]
        assert r["choices"][r["answer"]] == correct
        assert r["choices"].count(correct) == 1
        lines = r["question"].splitlines()
        assert "log excerpt" in lines[0] and lines[-1] == "What is the most likely root cause?"
        assert 2 <= len(lines) - 2 <= 7


def test_length_limits(pool: list[dict], eval_items: list[dict]) -> None:
    for r in pool + eval_items:
        assert len(r["question"]) <= 700, r["id"]
        assert all(len(line) <= 110 for line in r["question"].splitlines()), r["id"]
        assert all(len(c) <= 100 for c in r["choices"]), r["id"]


def test_coverage_in_first_200(pool: list[dict]) -> None:
    head = pool[:200]
    assert {r["category"] for r in head} == set(demo.CATEGORIES)
    assert {_vendor(r) for r in head} == set(demo.VENDORS)


def test_answer_position_balanced(pool: list[dict]) -> None:
    counts = Counter(r["answer"] for r in pool)
    assert all(0.15 <= counts[k] / len(pool) <= 0.35 for k in range(4))


def test_difficulty_varies(pool: list[dict]) -> None:
    assert len(Counter(len(r["question"].splitlines()) for r in pool)) >= 4  # noise lines vary
    n_close = Counter(sum(c in demo._CATEGORIES[r["category"]]["close"] for c in r["choices"]) for r in pool)
    assert set(n_close) == {1, 2, 3}  # close distractors: always some, sometimes all
    for category in demo.CATEGORIES:
        cause = demo._CATEGORIES[category]["cause"]
        evidence = [demo._evidence(random.Random(k), category) for k in range(200)]
        indirect = sum(not set(cause) & set(keys) for keys in evidence)
        assert 40 <= indirect <= 120  # symptom-only items exist, but are not the majority
