"""The judge against a real HTTP server on 127.0.0.1 (tests/judge_server.py): strict verdicts,
concurrency, the cache, and every way an endpoint fails."""

from __future__ import annotations

import json
import time

import pytest

from edco.config.schema import JudgeConfig
from edco.evaluation.judge import Judge, JudgeError, Question, acceptance, parse_verdict, verdict_key
from edco.storage.verdicts import VerdictStore
from tests.helpers import JudgeServer
from tests.judge_server import verdict

ITEMS = [Question(f"What fails in case {i}?", f"answer {i}", f"reference {i}") for i in range(12)]


def config(server: JudgeServer, **overrides: object) -> JudgeConfig:
    return JudgeConfig(base_url=server.base_url, model="judge-test", **{"timeout_s": 5.0, "retries": 1, **overrides})


def expected(cfg: JudgeConfig, items: list[Question]) -> list[bool | None]:
    """What the server's rule answers, computed here from the rubric as the judge fills it in."""
    return [
        parse_verdict(verdict(cfg.rubric.format(question=i.question, answer=i.answer, reference=i.reference)))
        for i in items
    ]


@pytest.mark.parametrize(
    ("reply", "parsed"),
    [
        ("yes", True),
        ("Yes.", True),
        ("**YES**", True),
        (" no\n", False),
        ('"No"', False),
        ("yes and no", None),
        ("not yes", None),
        ("Yes, the answer matches.", None),
        ("", None),
        ("y", None),
    ],
)
def test_verdicts_are_parsed_strictly(reply, parsed):
    assert parse_verdict(reply) is parsed


def test_acceptance_counts_unparsed_replies_apart():
    assert acceptance([True, False, None, True]) == {"judge_accuracy": 2 / 3, "judge_unparsed": 1}
    assert acceptance([None]) == {"judge_accuracy": None, "judge_unparsed": 1}


def test_verdicts_come_from_the_server_and_are_cached(tmp_path):
    with JudgeServer(tmp_path / "asked.jsonl") as server:
        cfg = config(server)
        cache = VerdictStore(tmp_path / "store", "run-a", 0)
        got = Judge(cfg, cache).verdicts(ITEMS)
        assert got == expected(cfg, ITEMS)
        assert len(server.asked()) == len(ITEMS)
        assert all(i.question in asked for i, asked in zip(ITEMS, sorted(server.asked(), key=_case)))
        again = Judge(cfg, VerdictStore(tmp_path / "store", "run-b", 1)).verdicts(ITEMS[::-1])
        assert again == got[::-1]
        assert len(server.asked()) == len(ITEMS), "a cached verdict was asked again"
        other_rubric = config(server, rubric="Q: {question} A: {answer} R: {reference}. yes or no?")
        Judge(other_rubric, cache).verdicts(ITEMS[:2])
        assert len(server.asked()) == len(ITEMS) + 2, "a verdict is keyed by its rubric too"
    stored = [json.loads(p.read_text()) for p in (tmp_path / "store" / ".shared" / "judge").glob("*.json")]
    assert len(stored) == len(ITEMS) + 2
    first = next(s for s in stored if s["question"] == ITEMS[0].question and s["rubric"] == cfg.rubric)
    assert first | {"asked_at": 0} == {
        **verdict_key(cfg, ITEMS[0]),
        "accepted": got[0],
        "reply": verdict(cfg.rubric.format(**vars(ITEMS[0]))),
        "run": "run-a",
        "interval": 0,
        "asked_at": 0,
    }


def _case(content: str) -> int:
    return int(content.split("case ")[1].split("?")[0])


def test_requests_run_concurrently_up_to_the_limit(tmp_path):
    with JudgeServer(tmp_path / "asked.jsonl", "--delay", "0.5") as server:
        start = time.perf_counter()
        Judge(config(server, concurrency=4)).verdicts(ITEMS[:8])
        seconds = time.perf_counter() - start
        arrivals = sorted(json.loads(line)["t"] for line in server.log.read_text().splitlines())
    assert seconds < 8 * 0.5, "requests were not concurrent"
    assert arrivals[3] - arrivals[0] < 0.4 and arrivals[4] - arrivals[0] >= 0.4, "not 4 in flight at once"


def test_unparsed_replies_are_reported_not_scored(tmp_path):
    with JudgeServer(tmp_path / "asked.jsonl", "--mode", "unparsed") as server:
        verdicts = Judge(config(server)).verdicts(ITEMS[:3])
    assert verdicts == [None, None, None]
    assert acceptance(verdicts)["judge_unparsed"] == 3


@pytest.mark.parametrize(("mode", "reason"), [("slow", "Timeout"), ("error", "InternalServerError"), ("garbage", "")])
def test_a_failing_endpoint_fails_clearly_after_its_retries(tmp_path, mode, reason):
    with JudgeServer(tmp_path / "asked.jsonl", "--mode", mode) as server:
        cfg = config(server, timeout_s=1.0, retries=1, concurrency=2)
        with pytest.raises(JudgeError) as error:
            Judge(cfg, VerdictStore(tmp_path / "store", "r", 0)).verdicts(ITEMS[:2])
        asked = server.asked()
    message = str(error.value)
    assert f"judge judge-test at {server.base_url}: 2 of 2 request(s) failed after 1 retries" in message
    assert reason in message
    if mode != "garbage":  # the client retries timeouts and 5xx once each
        assert len(asked) == 4
    assert not (tmp_path / "store" / ".shared" / "judge").exists(), "a failed request left a verdict"


def test_an_endpoint_that_dies_mid_evaluation_loses_nothing(tmp_path):
    log = tmp_path / "asked.jsonl"
    store = tmp_path / "store"
    with JudgeServer(log, "--die-after", "5") as server:
        cfg = config(server, concurrency=1, retries=0)
        with pytest.raises(JudgeError, match="7 of 12 request"):
            Judge(cfg, VerdictStore(store, "r", 0)).verdicts(ITEMS)
        first = server.asked()
    assert len(first) == 5 and len(list((store / ".shared" / "judge").glob("*.json"))) == 5
    with JudgeServer(log.with_name("again.jsonl")) as again:
        cfg = config(again)
        assert Judge(cfg, VerdictStore(store, "r", 0)).verdicts(ITEMS) == expected(cfg, ITEMS)
        assert sorted(again.asked() + first, key=_case) == sorted(set(again.asked() + first), key=_case)
        assert len(again.asked()) == 7, "only the questions never answered are asked again"


def test_an_api_key_is_read_from_the_variable_the_config_names(tmp_path, monkeypatch):
    with JudgeServer(tmp_path / "asked.jsonl") as server:
        cfg = config(server, api_key_env="EDCO_TEST_JUDGE_KEY")
        monkeypatch.delenv("EDCO_TEST_JUDGE_KEY", raising=False)
        with pytest.raises(JudgeError, match=r"\$EDCO_TEST_JUDGE_KEY, which is not set"):
            Judge(cfg).verdicts(ITEMS[:1])
        monkeypatch.setenv("EDCO_TEST_JUDGE_KEY", "secret")
        assert Judge(cfg, VerdictStore(tmp_path / "store", "r", 0)).verdicts(ITEMS[:1]) == expected(cfg, ITEMS[:1])
    assert [json.loads(line)["auth"] for line in server.log.read_text().splitlines()] == ["Bearer secret"]
    assert not any("secret" in p.read_text() for p in (tmp_path / "store").rglob("*.json")), "the key was stored"
