"""The GRPO rewards: which option a completion answers with (choice records), how much of the
reference it says (free-form records), what a judge says of it, or a user's own function.

Why the extractor is robust: the default model (SmolLM2-135M-Instruct) rarely replies with a
bare letter; it writes "A. <option text>", "We would recommend option D: ...", or recites
the option list. A strict "first character is the letter" reward scored almost every
completion in a group alike, so GRPO's group-normalised advantage, and with it the whole
gradient, was zero. The extractor therefore reads every usual way of stating an answer,
in English and Chinese, half- or full-width.

Why it never guesses: a reward for something the model did not say teaches the wrong thing.
So a lowercase letter counts only in an explicit pattern ("answer: b", "(b)"), never the
article "a"; a letter beyond the number of options is no answer; and a completion that
recites the option list ("A. ...\\nB. ...") answers nothing unless it also says which one it
picks, because otherwise reciting would be rewarded whenever the gold answer is A.

The rules, in order:
1. Explicit answer statements: "The answer is B", "Answer: b", "Option B", "答案：B", "选B",
   and a letter opening a line ("B", "B.", "B)", "(B)", "[B]", "**B**", "B: text", "B。").
   Line-opening letters that name two or more different options are a recital and are
   dropped. When statements contradict each other, the first one in the text wins: it is
   what the quick instruction asks for (letter first), and the same rule for every
   completion keeps the reward predictable.
2. Otherwise the option's own text: the reply starts with one option's text, or contains
   exactly one option's text (case and whitespace ignored). Paraphrases are no answer.
"""

from __future__ import annotations

import importlib
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
from transformers import PreTrainedTokenizerBase

from edco.config.schema import TrainingConfig
from edco.data.kinds import Kind, kind_of, references, rows
from edco.data.prompts import LETTERS, reply_text, trainer_prompt
from edco.errors import ConfigError
from edco.evaluation.judge import Judge, Question
from edco.evaluation.overlap import MEASURES

# A letter after an answer keyword: bracketed in either case, uppercase on a word boundary,
# or lowercase only when punctuation or the end of the line follows (so "is a fiber" is no answer).
_LETTER = (
    r"(?:[(\[]\s*(?P<bracketed>[A-Ja-j])\s*[)\]]"
    r"|(?P<upper>[A-J])(?![A-Za-z0-9])"
    r"|(?P<lower>[a-j])(?=[*_\"'”’]*\s*(?:[.,;:!?。，)]|$)))"
)

_STATEMENT = re.compile(
    r"(?:\b(?i:answer|option|choice)\b"
    r"(?:\s+(?i:is|would\s+be|should\s+be|must\s+be|will\s+be))?"
    r"|答案|选项|選項|选择|選擇|选|選)"
    r"(?:\s*(?:是|为|為|应该是|应是))?"
    r"[\s*_:=\"'“”‘’]*"
    r"(?:(?i:option|choice|letter)\s*|选项|選項)?" + _LETTER,
    re.MULTILINE,
)

# "Option B is wrong" names B without choosing it.
_NEGATION = re.compile(r"[ \t]*(?:(?i:is|was|are)[ \t]+)?(?i:not|incorrect|wrong|false)\b")

# A letter opening a line: bracketed in either case, or uppercase followed by punctuation
# ("B.", "B)", "B:", "B。", "B - ...") or the end of the line. "A broadcast storm" is no answer.
_LINE_LETTER = re.compile(
    r"^[ \t*_\"'“‘]*"
    r"(?:[(\[]\s*(?P<bracketed>[A-Ja-j])\s*[)\]]"
    r"|(?P<upper>[A-J])(?=[*_]*(?:\.(?!\w)|[)\]:;,。、]|\s+[-–—]\s|[ \t]*$)))",
    re.MULTILINE,
)

_SPACES = re.compile(r"\s+")

Pick = int | None


def completion_text(completion: str | list[dict]) -> str:
    """TRL passes a completion as a string (plain prompts) or as a list of messages (conversational
    prompts); return its text."""
    if isinstance(completion, str):
        return completion
    return "\n".join(_message_text(message.get("content")) for message in completion)


def _message_text(content: str | list[dict] | None) -> str:
    """A message's content is a string, or a list of typed parts of which only text parts count."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if part.get("type") == "text")


def extract_choice(text: str, choices: Sequence[str]) -> Pick:
    """0-based index of the option the text answers with, or None when it gives no answer."""
    text = unicodedata.normalize("NFKC", text)  # full-width "Ｂ", "（", "：" become ASCII
    n_choices = len(choices)
    line_letters = [(m.start(), i) for m in _LINE_LETTER.finditer(text) if (i := _option(m, n_choices)) is not None]
    recital = len({index for _, index in line_letters}) >= 2
    stated = [
        (m.start(), i)
        for m in _STATEMENT.finditer(text)
        if (i := _option(m, n_choices)) is not None and not _NEGATION.match(text, m.end())
    ]
    if not recital:
        stated += line_letters
    if stated:
        return min(stated)[1]  # the first statement wins
    return None if recital else _option_by_text(text, choices)


def _option(match: re.Match[str], n_choices: int) -> Pick:
    """The matched letter's option, or None when the letter is beyond the last option."""
    letter = next(group for group in match.groupdict().values() if group)
    index = LETTERS.index(letter.upper())
    return index if index < n_choices else None


def _normalise(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def _option_by_text(text: str, choices: Sequence[str]) -> Pick:
    """The option whose text opens the reply, else the only option whose text appears in it."""
    reply = _normalise(text)
    options = [_normalise(c).rstrip(".。") for c in choices]
    opening = [i for i, o in enumerate(options) if o and reply.startswith(o)]
    if opening:
        return max(opening, key=lambda i: len(options[i]))  # "Fiber cut: ..." over "Fiber cut"
    present = [i for i, o in enumerate(options) if o and o in reply]
    return present[0] if len(present) == 1 else None


def _picks(completions: Sequence[str | list[dict]], choices: Sequence[Sequence[str]]) -> list[Pick]:
    return [extract_choice(completion_text(c), opts) for c, opts in zip(completions, choices, strict=True)]


def no_answer_count(completions: Sequence[str | list[dict]], choices: Sequence[Sequence[str]]) -> int:
    """How many completions name no option: a high count means GRPO groups score alike."""
    return sum(pick is None for pick in _picks(completions, choices))


def answer_reward(
    prompts: list, completions: list, answer: list[int], choices: list[list[str]], **columns: object
) -> list[float]:
    """TRL GRPO reward function: 1.0 where the extracted choice equals the gold `answer`, else 0.0.
    Usable outside the trainer.

    TRL passes the dataset's other columns and a `log_metric(name, value)` callback as
    keywords; through it the fraction of completions that gave no answer is logged as
    `no_answer_frac`, averaged over each logging step beside TRL's own metrics.
    """
    picks = _picks(completions, choices)
    log_metric: Callable[[str, float], None] | None = columns.get("log_metric")
    if log_metric is not None and picks:
        log_metric("no_answer_frac", sum(p is None for p in picks) / len(picks))
    return [float(pick == gold) for pick, gold in zip(picks, answer, strict=True)]


Reward = Callable[..., list[float]]


def overlap_reward(measure: str) -> Reward:
    """The best `measure` (rouge_l or token_f1) of each completion against its acceptable answers."""
    score = MEASURES[measure]

    def reward(prompts: list, completions: list, references: list[list[str]], **columns: object) -> list[float]:
        return [score(completion_text(c), refs) for c, refs in zip(completions, references, strict=True)]

    reward.__name__ = f"{measure}_reward"
    return reward


def judge_reward(judge: Judge) -> Reward:
    """1.0 where the judge says yes, else 0.0; the share of unparsed verdicts (scored 0 because a
    reward must be a number) is logged as `judge_unparsed_frac`, so that it is seen, not hidden."""

    def reward(
        prompts: list, completions: list, question: list[str], references: list[list[str]], **columns: object
    ) -> list[float]:
        items = [Question(q, completion_text(c), refs[0]) for q, c, refs in zip(question, completions, references)]
        verdicts = judge.verdicts(items)
        log_metric: Callable[[str, float], None] | None = columns.get("log_metric")
        if log_metric is not None and verdicts:
            log_metric("judge_unparsed_frac", sum(v is None for v in verdicts) / len(verdicts))
        return [float(v is True) for v in verdicts]

    reward.__name__ = "judge_reward"
    return reward


def user_reward(spec: str) -> Reward:
    """`package.module:function`, imported; a clear ConfigError when it cannot be."""
    module_name, _, name = spec.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"training.reward {spec!r}: cannot import it ({type(exc).__name__}: {exc})") from None
    if not callable(function):
        raise ConfigError(f"training.reward {spec!r}: {name} is a {type(function).__name__}, not a function")
    return function


def reward_function(cfg: TrainingConfig, kind: Kind, judge: Judge | None = None) -> Reward:
    """The configured reward for records of `kind` (null: the choice reward for choice records,
    else the overlap reward)."""
    name = reward_name(cfg, kind)
    if name == "choice":
        return answer_reward
    if name == "overlap":
        return overlap_reward(cfg.overlap)
    if name == "judge":
        if judge is None:
            raise ConfigError("training.reward 'judge' needs a `judge` section")
        return judge_reward(judge)
    return user_reward(name)


def reward_name(cfg: TrainingConfig, kind: Kind) -> str:
    """`training.reward`, or the default for `kind`; a built-in reward that cannot read records of
    `kind` is refused."""
    name = cfg.reward or ("choice" if kind == "choice" else "overlap")
    if name in ("overlap", "judge", "choice") and (name == "choice") != (kind == "choice"):
        raise ConfigError(
            f"training.reward {name!r} does not apply to {kind} records",
            hint="choice records take the 'choice' reward; free-form ones 'overlap', 'judge' or a function",
        )
    return name


def reward_columns(records: pa.Table) -> dict[str, list[Any]]:
    """The columns a reward receives as keywords, per record (`edco.training.trainers.grpo_dataset`)."""
    records_ = rows(records)
    columns: dict[str, list[Any]] = {"id": [r["id"] for r in records_], "question": [r["question"] for r in records_]}
    if records_ and records_[0]["kind"] == "choice":
        return columns | {"answer": [r["answer"] for r in records_], "choices": [r["choices"] for r in records_]}
    return columns | {"references": [references(r) for r in records_]}


def check_reward(cfg: TrainingConfig, records: pa.Table, tokenizer: PreTrainedTokenizerBase) -> None:
    """Call a user's reward on the first records, each completed with its own target and passed
    every keyword TRL's GRPOTrainer passes, before any training: one that fails, returns the wrong
    number of values or anything but finite numbers is refused with a ConfigError, instead of
    failing (or training on garbage) an hour in. A built-in reward is only checked to fit the
    records' kind."""
    if ":" not in reward_name(cfg, kind_of(records)):
        return
    reward = user_reward(cfg.reward)
    probe = rows(records.slice(0, 2))
    chat = bool(tokenizer.chat_template)  # TRL passes messages when the prompts are conversations
    replies = [reply_text(r) for r in probe]
    columns = reward_columns(records.slice(0, 2))
    try:
        values = reward(
            prompts=[trainer_prompt(tokenizer, r, "quick") for r in probe],
            completions=[[{"role": "assistant", "content": t}] if chat else t for t in replies],
            completion_ids=[tokenizer.encode(t, add_special_tokens=False) for t in replies],
            trainer_state=None,
            log_extra=lambda *args, **kwargs: None,
            log_metric=lambda *args, **kwargs: None,
            **columns,
        )
    except Exception as exc:  # a user's code may raise anything; all of it means "refused"
        raise ConfigError(
            f"training.reward {cfg.reward!r} raised {type(exc).__name__}: {exc}",
            hint="a reward takes (prompts, completions, completion_ids, trainer_state, log_extra, log_metric, "
            f"**columns) as TRL passes them; its columns here are {', '.join(columns)}",
        ) from None
    if not isinstance(values, (list, tuple)) or len(values) != len(replies):
        got = f"{len(values)} values" if isinstance(values, (list, tuple)) else type(values).__name__
        raise ConfigError(f"training.reward {cfg.reward!r} returned {got} for {len(replies)} completions")
    if not all(_number(v) for v in values):
        raise ConfigError(f"training.reward {cfg.reward!r} returned non-numbers: {values!r:.200}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
