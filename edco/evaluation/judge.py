"""An LLM judge: does a free-form answer match its reference? Asked over any OpenAI-compatible
chat-completions endpoint through the standard `openai` client.

What differs from the authors' judge (GTS-AIData/EDCO, rule_verifier.py), and why:
- it is shown the question, since whether an answer "matches" often depends on what was asked;
- the reply is parsed strictly: "yes" or "no" (any case, with punctuation or markdown around
  it), nothing else. A reply that contains "yes" somewhere ("yes and no", "not yes") is not a
  pass; it is counted as unparsed and reported, never silently scored 0;
- a request that fails after the client's retries (timeouts, 5xx, connection errors, each
  retried with exponential backoff) fails the evaluation with one clear error instead of
  scoring 0: a broken judge must not look like a bad model;
- requests run concurrently (`judge.concurrency`), and every verdict is cached (`VerdictCache`)
  as soon as it arrives, so a resumed or repeated evaluation asks only what was never answered.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Protocol

from edco.config.schema import JudgeConfig
from edco.errors import EdcoError

_WRAPPING = re.compile(r"^[\s*_`\"'“”‘’(\[]+|[\s*_`\"'“”‘’)\].!?。！]+$")


class JudgeError(EdcoError):
    """The judge could not be asked (unreachable, failing, or answering what is not a chat completion)."""


@dataclass(frozen=True)
class Question:
    """One thing to judge: the question asked, the answer given, and the reference it is checked against."""

    question: str
    answer: str
    reference: str


class VerdictCache(Protocol):
    """Where verdicts are kept between evaluations (the run store's, in a run)."""

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None: ...

    def put(self, key: dict[str, Any], verdict: dict[str, Any]) -> None: ...


def parse_verdict(reply: str) -> bool | None:
    """True for yes, False for no, None for anything else."""
    word = _WRAPPING.sub("", reply).casefold()
    return {"yes": True, "no": False}.get(word)


def verdict_key(cfg: JudgeConfig, item: Question) -> dict[str, Any]:
    """What a verdict depends on: the item, the rubric, the judge model and how long a reply it may
    write (not the endpoint)."""
    return {
        "question": item.question,
        "answer": item.answer,
        "reference": item.reference,
        "rubric": cfg.rubric,
        "model": cfg.model,
        "max_tokens": cfg.max_tokens,
    }


def key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


class Judge:
    """Asks `cfg`'s endpoint about many items at once; `cache` may be None (nothing kept)."""

    def __init__(self, cfg: JudgeConfig, cache: VerdictCache | None = None) -> None:
        self.cfg = cfg
        self.cache = cache

    def verdicts(self, items: Sequence[Question]) -> list[bool | None]:
        """Each item's verdict, in order: True (yes), False (no) or None (unparsed)."""
        keys = [verdict_key(self.cfg, item) for item in items]
        digests = [key_digest(key) for key in keys]
        found: dict[str, dict[str, Any]] = {}
        missing: dict[str, tuple[dict[str, Any], Question]] = {}
        for key, digest, item in zip(keys, digests, items):
            if digest in found or digest in missing:  # the same question twice in one call: asked once
                continue
            cached = self.cache.get(key) if self.cache else None
            if cached is not None:
                found[digest] = cached
            else:
                missing[digest] = (key, item)
        if missing:
            found |= self._ask(missing)
        return [found[digest]["accepted"] for digest in digests]

    def _ask(self, missing: dict[str, tuple[dict[str, Any], Question]]) -> dict[str, dict[str, Any]]:
        client = self._client()
        answered: dict[str, dict[str, Any]] = {}
        failures: list[str] = []
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
            futures = {pool.submit(self._kept, client, key, item): digest for digest, (key, item) in missing.items()}
            for future in as_completed(futures):
                try:
                    answered[futures[future]] = future.result()
                except Exception as exc:  # the client's errors have many types; each means "no verdict"
                    failures.append(f"{type(exc).__name__}: {exc}")
        if failures:
            raise JudgeError(
                f"judge {self.cfg.model} at {self.cfg.base_url}: {len(failures)} of {len(missing)} request(s) failed "
                f"after {self.cfg.retries} retries (first: {failures[0][:300]})",
                hint=f"the {len(answered)} verdict(s) received are cached; fix the endpoint and resume, and only "
                "the questions not answered are asked again",
            )
        return answered

    def _kept(self, client: Any, key: dict[str, Any], item: Question) -> dict[str, Any]:
        """One verdict, cached by the thread that received it before it asks the next: a process
        killed mid-evaluation loses only the requests in flight, not answers still queued for
        the main thread."""
        verdict = self._one(client, item)
        if self.cache:
            self.cache.put(key, verdict)
        return verdict

    def _one(self, client: Any, item: Question) -> dict[str, Any]:
        prompt = self.cfg.rubric.format(question=item.question, answer=item.answer, reference=item.reference)
        response = client.chat.completions.create(
            model=self.cfg.model,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=self.cfg.max_tokens,
            temperature=0.0,
        )
        try:
            reply = response.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise JudgeError(f"not a chat completion: {str(response)[:200]!r}") from None
        return {"accepted": parse_verdict(reply), "reply": reply}

    def _client(self) -> Any:
        from openai import OpenAI  # imported when a judge is first asked

        key = "unused"  # endpoints without authentication still need the client to send one
        if self.cfg.api_key_env:
            key = os.environ.get(self.cfg.api_key_env, "")
            if not key:
                raise JudgeError(f"judge.api_key_env names ${self.cfg.api_key_env}, which is not set")
        return OpenAI(base_url=self.cfg.base_url, api_key=key, timeout=self.cfg.timeout_s, max_retries=self.cfg.retries)


def acceptance(verdicts: Sequence[bool | None]) -> dict[str, float | int | None]:
    """The share of parsed verdicts that accept, and how many replies were neither yes nor no."""
    parsed = [v for v in verdicts if v is not None]
    return {
        "judge_accuracy": sum(parsed) / len(parsed) if parsed else None,
        "judge_unparsed": len(verdicts) - len(parsed),
    }
