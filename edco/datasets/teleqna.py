"""Import TeleQnA (netop-team/TeleQnA, MIT; arXiv 2310.15051) into pool and eval records.

The authors ship the questions as an AES-encrypted zip so that models trained on public
code are not contaminated. This module reads the zip in memory and returns records of the
project's contract (`edco.data.records`); the caller writes them only into a git-ignored folder,
never into the repository (see shared/data/teleqna/SOURCE.md).

Split rule (TeleQnA has no official split): an entry goes to eval when the first 8 bytes
of sha256 of its question text, lower-cased with whitespace collapsed, read as a fraction
of 2**64, are below `eval_fraction`; every other entry goes to the pool. The question
text decides, not the "question N" key, because the real file repeats some question texts
under different keys ("What is federated learning?" five times): a key split would put the
same question on both sides, which `edco run` refuses (`edco.data.records.check_disjoint`).
Within each split, records are ordered by sha256 of their "question N" key, so the order
does not depend on the file and any prefix (a `limit`) is a stable, category-mixed sample.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyzipper

from edco.data.records import (
    MAX_CHOICES,
    MIN_CHOICES,
    Invalid,
    collect,
    problems_error,
    required,
    shown,
    source_error,
    text,
)
from edco.errors import DataError, EdcoError, RowProblem

PASSWORD = "teleqnadataset"  # published in the authors' README
MEMBER = "TeleQnA.txt"
DEFAULT_EVAL_FRACTION = 0.2
_KEY = re.compile(r"question (\d+)")
_OPTION = re.compile(r"option (\d+)")
_ANSWER = re.compile(r"option (\d+):(.*)", re.DOTALL)
_NOT_TELEQNA = "not the TeleQnA format"
_ORIGINAL = "use TeleQnA.zip from github.com/netop-team/TeleQnA (password in its README)"

Entry = tuple[str, Any]  # ("question N", the entry's value as parsed from JSON)


@dataclass(frozen=True)
class TeleqnaSplits:
    """Records of each split in their stable order, and why each left-out entry was invalid.

    `skipped` maps a "question N" key to its problems; it is filled only with
    `skip_invalid`, so that what was left out is always shown to the user.
    """

    pool: list[dict]
    eval: list[dict]
    skipped: dict[str, list[RowProblem]]
    option_dependent: int = 0  # questions left out of a free-form import (`needs_options`)


def load_teleqna(
    zip_path: Path,
    *,
    password: str = PASSWORD,
    eval_fraction: float = DEFAULT_EVAL_FRACTION,
    categories: Sequence[str] | None = None,
    pool_limit: int | None = None,
    eval_limit: int | None = None,
    skip_invalid: bool = False,
    kind: str = "choice",
) -> TeleqnaSplits:
    """Read the zip, keep `categories` (all when None), validate, split, and keep the first
    `pool_limit` / `eval_limit` records of each split.

    `kind="reference"` turns each question into question -> reference (the gold option's text,
    then the authors' explanation), leaving out the questions that only make sense with their
    options (`needs_options`); the split is the choice import's, so the two kinds' eval sets
    hold the same questions.

    Entries outside `categories` are dropped before validation, so a bad entry never blocks
    an import that does not want it. Raises DataError listing every invalid entry unless
    `skip_invalid`, in which case they are returned in `skipped` instead.
    """
    if not 0.0 < eval_fraction < 1.0:
        raise EdcoError(f"the eval fraction must be between 0 and 1 (exclusive), got {eval_fraction}")
    file, entries = read_entries(zip_path, password)
    if categories:
        entries = _in_categories(file, entries, categories)
    records, rejected = _parse_entries(file, entries)
    if rejected and not skip_invalid:
        raise _invalid_entries_error(file, rejected)
    pool, eval_set = _split(records, eval_fraction)
    if kind == "choice":
        pool, eval_set = ([_choice_only(r) for r in split] for split in (pool, eval_set))
        return TeleqnaSplits(pool[:pool_limit], eval_set[:eval_limit], rejected)
    free = [[as_reference(r) for r in split if not needs_options(r)] for split in (pool, eval_set)]
    dropped = len(pool) + len(eval_set) - len(free[0]) - len(free[1])
    return TeleqnaSplits(free[0][:pool_limit], free[1][:eval_limit], rejected, dropped)


# A question that points at its options, or a gold answer that names other options.
_POINTS_AT_OPTIONS = re.compile(
    r"\b(of the following|the following|listed (above|below)|the options\b(?! field)|which (statement|one|of these)"
    r"|statements? (is|are) (true|false|correct|incorrect))\b",
    re.IGNORECASE,
)
_NAMES_OPTIONS = re.compile(
    r"\b((all|none|both|either|neither) of (the )?(above|options|mentioned|listed|these|them)|all the above"
    r"|options? \d)",
    re.IGNORECASE,
)


def _choice_only(record: dict) -> dict:
    """The record without its explanation, which only the free-form import reads."""
    return {key: value for key, value in record.items() if key != "explanation"}


def needs_options(record: dict) -> bool:
    """Whether a question cannot be answered free-form: it asks "which of the following" (or the
    like), or its gold answer is "All of the above", "Both option 1 and 2", ..."""
    gold = record["choices"][record["answer"]]
    return bool(_POINTS_AT_OPTIONS.search(record["question"]) or _NAMES_OPTIONS.search(gold))


def as_reference(record: dict) -> dict:
    """The choice record as question -> reference: the gold option's text, then its explanation."""
    gold = record["choices"][record["answer"]].strip()
    explanation = (record.get("explanation") or "").strip()
    reference = f"{gold.rstrip('.')}. {explanation}" if explanation else gold
    return {"id": record["id"], "question": record["question"], "reference": reference, "category": record["category"]}


def read_entries(zip_path: Path, password: str = PASSWORD) -> tuple[str, list[Entry]]:
    """The raw ("question N", value) pairs in file order, and the name used in messages
    (the zip path and its inner file)."""
    file = f"{zip_path}/{MEMBER}"
    data = _decode_json(file, _read_member(zip_path, password))
    if not isinstance(data, dict):
        raise _source_error(
            file, f"{_NOT_TELEQNA}: expected a JSON object keyed 'question N', got a {type(data).__name__}"
        )
    if not data:
        raise _source_error(file, "no entries")
    return file, list(data.items())


def _eval_point(question: str) -> float:
    """Where a question falls in [0, 1): below the eval fraction means eval. Normalised as
    `check_disjoint` compares questions, so texts it calls equal always share a split."""
    normalised = " ".join(question.lower().split())
    return int.from_bytes(hashlib.sha256(normalised.encode()).digest()[:8], "big") / 2**64


def split_rule(eval_fraction: float) -> str:
    """The rule in one line, for the CLI to print next to the counts."""
    return (
        f"eval = entries whose sha256(normalised question text)[:8] / 2**64 < {eval_fraction}, pool = the rest; "
        "each split ordered by sha256 of its 'question N' key"
    )


# --- reading -------------------------------------------------------------------------


def _read_member(zip_path: Path, password: str) -> bytes:
    """Every way a wrong file fails becomes one line naming the file."""
    where = str(zip_path)
    try:
        with pyzipper.AESZipFile(zip_path) as archive:
            names = archive.namelist()
            if MEMBER not in names:
                shown = ", ".join(names[:5]) or "nothing"
                raise _source_error(where, f"not the TeleQnA zip: no {MEMBER} inside (it holds {shown})")
            return archive.read(MEMBER, pwd=password.encode())
    except FileNotFoundError:
        raise _source_error(where, "no such file", hint="pass --zip with the path of TeleQnA.zip") from None
    except OSError as exc:
        raise _source_error(
            where, f"cannot read ({exc.strerror or exc})", hint="check the path and its permissions"
        ) from None
    except pyzipper.BadZipFile as exc:
        raise _source_error(where, f"not a readable zip file ({exc})") from None
    except RuntimeError:  # how zipfile and pyzipper report a bad or missing password
        raise _source_error(f"{where}/{MEMBER}", "wrong password") from None


def _decode_json(file: str, raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise _source_error(file, f"{_NOT_TELEQNA}: not UTF-8 text (byte offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise _source_error(file, f"{_NOT_TELEQNA}: line {exc.lineno}: malformed JSON: {exc.msg}") from None


def _in_categories(file: str, entries: list[Entry], categories: Sequence[str]) -> list[Entry]:
    """A category name nobody has is a typo, not an empty experiment."""
    present = {_category_of(value) for _, value in entries} - {None}
    unknown = [name for name in categories if name not in present]
    if unknown:
        known = ", ".join(sorted(present))
        raise _source_error(file, f"no entries in category {unknown[0]!r}", hint=f"categories are: {known}")
    return [(key, value) for key, value in entries if _category_of(value) in categories]


def _category_of(value: Any) -> str | None:
    category = value.get("category") if isinstance(value, dict) else None
    return category if isinstance(category, str) else None


# --- validation ----------------------------------------------------------------------


def _parse_entries(file: str, entries: list[Entry]) -> tuple[list[tuple[str, dict]], dict[str, list[RowProblem]]]:
    """Every entry is checked, so a user sees all problems of the file at once."""
    records: list[tuple[str, dict]] = []
    rejected: dict[str, list[RowProblem]] = {}
    for key, value in entries:
        record, problems = _entry_record(file, key, value)
        if problems:
            rejected[key] = problems
        else:
            records.append((key, record))
    return records, rejected


def _entry_record(file: str, key: str, value: Any) -> tuple[dict, list[RowProblem]]:
    match = _KEY.fullmatch(key)
    row = int(match.group(1)) if match else None
    problems: list[RowProblem] = []
    if match is None:
        problems.append(RowProblem(file, None, None, f"key {key!r} is not of the form 'question N'"))
    if not isinstance(value, dict):
        problems.append(RowProblem(file, row, None, f"expected an object, got {type(value).__name__}"))
        return {}, problems
    found: list[tuple[str | None, str]] = []  # every parser names its field
    choices = collect(found, None, _choices, value)
    record = {
        "id": f"teleqna-{row}",
        "question": collect(found, None, _text, value, "question"),
        "choices": choices,
        "answer": collect(found, None, _answer, value, choices),
        "category": collect(found, None, _text, value, "category"),
    }
    if isinstance(value.get("explanation"), str):  # kept for the free-form import; not part of a choice record
        record["explanation"] = value["explanation"]
    return record, problems + [RowProblem(file, row, field, reason) for field, reason in found]


def _text(value: dict, field: str) -> str:
    """The contract's text check, naming the value by its type only (as this importer always has)."""
    return text(required(value, field), field, show_value=False)


def _choices(value: dict) -> list[str]:
    """ "option 1".."option K", numbered without gaps; absent options mean fewer choices."""
    keys = {int(m.group(1)): key for key in value if (m := _OPTION.fullmatch(key))}
    last = max(keys, default=0)
    if 0 in keys:
        raise Invalid("options are numbered from 1", keys[0])
    for number in range(1, last + 1):
        if number not in keys:
            raise Invalid(f"missing, though option {last} exists", f"option {number}")
    if last < MIN_CHOICES:
        raise Invalid(f"missing: needs at least {MIN_CHOICES} options", f"option {last + 1}")
    if last > MAX_CHOICES:
        raise Invalid(f"at most {MAX_CHOICES} options are supported, got {last}", f"option {MAX_CHOICES + 1}")
    return [_text(value, keys[number]) for number in range(1, last + 1)]


def _answer(value: dict, choices: list[str] | None) -> int:
    """ "option K: <text>" -> K - 1. The option's number and text must agree; when they do
    not, the entry is reported, not repaired: which of the two is wrong is a guess."""
    match = _ANSWER.fullmatch(_text(value, "answer").strip())
    if match is None:
        raise Invalid(f"expected 'option K: <text>', got {shown(value['answer'])}", "answer")
    number, stated = int(match.group(1)), match.group(2)
    if choices is None:  # the options are reported already; only the format is checkable
        return number - 1
    if not 1 <= number <= len(choices):
        raise Invalid(f"names option {number}, but the entry has options 1 to {len(choices)}", "answer")
    if _comparable(stated) != _comparable(choices[number - 1]):
        raise Invalid(_contradiction(number, stated, choices), "answer")
    return number - 1


def _comparable(option: str) -> str:
    """Case and spacing slips are not contradictions (question 683 of the real file writes
    'Vehicle-to-infrastructure(V2I)' for the option 'Vehicle-to-infrastructure (V2I)')."""
    return "".join(option.casefold().split())


def _contradiction(number: int, stated: str, choices: list[str]) -> str:
    reason = (
        f"names option {number}, but its text {shown(stated.strip())} "
        f"differs from option {number}, {shown(choices[number - 1])}"
    )
    same = [n for n, choice in enumerate(choices, start=1) if _comparable(choice) == _comparable(stated)]
    return reason + (f" (it is the text of option {same[0]})" if same else "")


# --- splitting -----------------------------------------------------------------------


def _split(records: list[tuple[str, dict]], eval_fraction: float) -> tuple[list[dict], list[dict]]:
    pool: list[dict] = []
    eval_set: list[dict] = []
    for _, record in sorted(records, key=lambda pair: hashlib.sha256(pair[0].encode()).digest()):
        (eval_set if _eval_point(record["question"]) < eval_fraction else pool).append(record)
    return pool, eval_set


# --- reporting -----------------------------------------------------------------------


def _source_error(file: str, reason: str, *, hint: str = _ORIGINAL) -> DataError:
    """A problem of the zip as a whole; the default hint fits every way of having the wrong file."""
    return source_error(file, reason, hint=hint)


def _invalid_entries_error(file: str, rejected: dict[str, list[RowProblem]]) -> DataError:
    problems = [problem for entry in rejected.values() for problem in entry]
    count = f"{len(rejected)} invalid entr{'y' if len(rejected) == 1 else 'ies'}"
    hint = "fix them, or leave them out with --skip-invalid (edco data teleqna), which lists what it left out"
    return problems_error(f"{file}: {count} (row N is the entry 'question N')", problems, hint=hint)
