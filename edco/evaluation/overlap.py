"""How close a free-form answer is to its reference(s): exact match, token F1 and ROUGE-L F1.

Exact match and token F1 follow SQuAD's evaluation (lowercase, no punctuation, no English
articles, whitespace collapsed); ROUGE-L is Google's `rouge-score`, the package the ROUGE
numbers in papers come from, fed the same tokens, so that text in scripts without spaces
(Chinese, Japanese) is compared character by character instead of being dropped by its
default ASCII tokenizer. Each measure takes the best over a record's acceptable answers.

No torch here: the GRPO overlap reward imports this module.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import cache

from rouge_score import rouge_scorer

_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}\u3000-\u303f\uff00-\uff0f]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_TOKENS = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]|[^\W_\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_ARTICLES.sub(" ", _PUNCTUATION.sub(" ", text)).split())


def tokens(text: str) -> list[str]:
    """Words, and each CJK character on its own."""
    return _TOKENS.findall(normalise(text))


class _Tokenizer:
    """rouge-score's tokenizer interface, over `tokens`."""

    def tokenize(self, text: str) -> list[str]:
        return tokens(text)


@cache
def _rouge() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokenizer())


def exact_match(answer: str, refs: Sequence[str]) -> float:
    return float(any(normalise(answer) == normalise(ref) for ref in refs))


def token_f1(answer: str, refs: Sequence[str]) -> float:
    return max(_f1(tokens(answer), tokens(ref)) for ref in refs)


def rouge_l(answer: str, refs: Sequence[str]) -> float:
    return max(_rouge().score(ref, answer)["rougeL"].fmeasure for ref in refs)


def _f1(predicted: list[str], gold: list[str]) -> float:
    common = sum((Counter(predicted) & Counter(gold)).values())
    if not predicted or not gold:
        return float(predicted == gold)
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


MEASURES = {"exact_match": exact_match, "token_f1": token_f1, "rouge_l": rouge_l}
