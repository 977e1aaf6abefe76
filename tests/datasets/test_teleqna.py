"""The TeleQnA importer: records, split, filters and errors on small AES zips in the real
format, and one check of the real zip when it is present."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import pyzipper

from edco.cli.app import main
from edco.config.schema import ColumnMap, load_config
from edco.data.records import check_disjoint
from edco.datasets import teleqna
from edco.datasets.readers import load_records
from edco.errors import DataError, EdcoError

REPO = Path(__file__).parents[2]
REAL_ZIP = Path(__file__).parents[3] / "shared/data/teleqna/TeleQnA.zip"

ENTRIES = {
    "question 0": {
        "question": "What does RAN stand for?",
        "option 1": "Radio Access Network",
        "option 2": "Remote Antenna Node",
        "answer": "option 1: Radio Access Network",
        "explanation": "RAN is the radio access network.",
        "category": "Lexicon",
    },
    "question 1": {
        "question": "Which entity allocates the C-RNTI? [3GPP Release 17]",
        "option 1": "The AMF",
        "option 2": "The gNB",
        "option 3": "The UPF",
        "answer": "option 2: The gNB",
        "explanation": "The gNB assigns the C-RNTI during random access.",
        "category": "Standards specifications",
    },
    "question 2": {
        "question": "What is the main benefit of massive MIMO?",
        "option 1": "Lower latency of the core",
        "option 2": "Fewer base stations",
        "option 3": "Higher spectral efficiency",
        "option 4": "Cheaper backhaul",
        "answer": "option 3: Higher spectral efficiency",
        "explanation": "Many antennas serve many users on the same resources.",
        "category": "Research overview",
    },
    "question 3": {
        "question": "Which band is FR2 in 5G NR?",
        "option 1": "Below 1 GHz",
        "option 2": "1 to 3 GHz",
        "option 3": "3 to 6 GHz",
        "option 4": "24.25 to 71 GHz",
        "option 5": "Above 100 GHz",
        "answer": "option 4: 24.25 to 71 GHz",
        "explanation": "FR2 covers millimetre waves.",
        "category": "Standards specifications",
    },
    "question 4": {
        "question": "What does HARQ combine?",
        "option 1": "ARQ and forward error correction",
        "option 2": "Handover and QoS",
        "option 3": "Beamforming and scheduling",
        "option 4": "Paging and RRC",
        "answer": "option 1: ARQ and  forward error correction",  # a spacing slip, not a contradiction
        "explanation": "Hybrid ARQ.",
        "category": "Lexicon",
    },
    "question 5": {
        "question": "What is federated learning?",
        "option 1": "Training on data kept on devices",
        "option 2": "Training on one server",
        "option 3": "A routing protocol",
        "answer": "option 1: Training on data kept on devices",
        "explanation": "Devices share updates, not data.",
        "category": "Research overview",
    },
    "question 6": {  # the real file repeats question texts under other keys
        "question": "What is  Federated Learning?",
        "option 1": "A kind of interference",
        "option 2": "Collaborative training without sharing raw data",
        "answer": "option 2: Collaborative training without sharing raw data",
        "explanation": "Same idea, other options.",
        "category": "Research publications",
    },
}


def numbered_entries(n: int, start: int = 100) -> dict[str, dict]:
    """Enough distinct entries for both splits to be non-empty at the default fraction."""
    return {
        f"question {i}": {
            "question": f"Which value does parameter P{i} take?",
            "option 1": f"{i}",
            "option 2": f"{i + 1}",
            "option 3": f"{i + 2}",
            "answer": f"option {1 + i % 3}: {i + i % 3}",
            "explanation": "",
            "category": ["Lexicon", "Research overview", "Standards overview"][i % 3],
        }
        for i in range(start, start + n)
    }


def write_zip(path: Path, entries: dict, password: str = teleqna.PASSWORD, member: str = teleqna.MEMBER) -> Path:
    with pyzipper.AESZipFile(path, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(password.encode())
        archive.writestr(member, json.dumps(entries, indent=4))
    return path


@pytest.fixture
def small_zip(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "TeleQnA.zip", ENTRIES)


@pytest.fixture
def large_zip(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "TeleQnA.zip", {**ENTRIES, **numbered_entries(60)})


def independent_eval_point(question: str) -> float:
    text = " ".join(question.lower().split())
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16) / 16**16


def problem_of(excinfo: pytest.ExceptionInfo[DataError]) -> tuple[str, int | None, str | None]:
    (problem,) = excinfo.value.problems
    return problem.file, problem.row, problem.field


def with_entry(tmp_path: Path, key: str, **changes: object) -> Path:
    """The small zip with one entry changed; a value of None removes the field."""
    entry = {k: v for k, v in {**ENTRIES[key], **changes}.items() if v is not None}
    return write_zip(tmp_path / "bad.zip", {**ENTRIES, key: entry})


def all_records(splits: teleqna.TeleqnaSplits) -> dict[str, dict]:
    return {r["id"]: r for r in splits.pool + splits.eval}


# --- records -------------------------------------------------------------------------


def test_entries_become_records_with_zero_based_answers(small_zip: Path) -> None:
    records = all_records(teleqna.load_teleqna(small_zip))
    assert records["teleqna-3"] == {
        "id": "teleqna-3",
        "question": "Which band is FR2 in 5G NR?",
        "choices": ["Below 1 GHz", "1 to 3 GHz", "3 to 6 GHz", "24.25 to 71 GHz", "Above 100 GHz"],
        "answer": 3,
        "category": "Standards specifications",
    }
    assert {rid: (len(r["choices"]), r["answer"]) for rid, r in records.items()} == {
        "teleqna-0": (2, 0),
        "teleqna-1": (3, 1),
        "teleqna-2": (4, 2),
        "teleqna-3": (5, 3),
        "teleqna-4": (4, 0),
        "teleqna-5": (3, 0),
        "teleqna-6": (2, 1),
    }


# --- split ---------------------------------------------------------------------------


def test_split_follows_the_sha256_of_the_normalised_question(large_zip: Path) -> None:
    splits = teleqna.load_teleqna(large_zip, eval_fraction=0.3)
    assert splits.eval and splits.pool
    assert all(independent_eval_point(r["question"]) < 0.3 for r in splits.eval)
    assert all(independent_eval_point(r["question"]) >= 0.3 for r in splits.pool)


def test_split_is_disjoint_and_covers_every_entry(large_zip: Path) -> None:
    splits = teleqna.load_teleqna(large_zip)
    pool_ids, eval_ids = {r["id"] for r in splits.pool}, {r["id"] for r in splits.eval}
    assert not pool_ids & eval_ids
    assert len(pool_ids | eval_ids) == len(ENTRIES) + 60


def test_split_and_order_do_not_depend_on_the_file_order(tmp_path: Path, large_zip: Path) -> None:
    entries = {**ENTRIES, **numbered_entries(60)}
    reversed_zip = write_zip(tmp_path / "reversed.zip", dict(reversed(entries.items())))
    assert teleqna.load_teleqna(reversed_zip) == teleqna.load_teleqna(large_zip)


def test_each_split_is_ordered_by_the_sha256_of_the_key(large_zip: Path) -> None:
    splits = teleqna.load_teleqna(large_zip)
    for records in (splits.pool, splits.eval):
        digests = [hashlib.sha256(f"question {r['id'].removeprefix('teleqna-')}".encode()).hexdigest() for r in records]
        assert digests == sorted(digests)


def test_repeated_question_texts_share_a_split(small_zip: Path) -> None:
    for fraction in (0.1, 0.3, 0.5, 0.7, 0.9):
        splits = teleqna.load_teleqna(small_zip, eval_fraction=fraction)
        sides = {r["id"]: side for side, records in (("pool", splits.pool), ("eval", splits.eval)) for r in records}
        assert sides["teleqna-5"] == sides["teleqna-6"]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_eval_fraction_must_leave_both_splits_a_chance(small_zip: Path, fraction: float) -> None:
    with pytest.raises(EdcoError, match="between 0 and 1"):
        teleqna.load_teleqna(small_zip, eval_fraction=fraction)


# --- filters and limits --------------------------------------------------------------


def test_category_filter_keeps_only_the_named_categories(large_zip: Path) -> None:
    splits = teleqna.load_teleqna(large_zip, categories=["Lexicon", "Standards specifications"])
    kept = Counter(r["category"] for r in splits.pool + splits.eval)
    assert kept == {"Lexicon": 2 + 20, "Standards specifications": 2}


def test_unknown_category_is_an_error_naming_the_known_ones(small_zip: Path) -> None:
    with pytest.raises(DataError, match="no entries in category 'Lexikon'") as excinfo:
        teleqna.load_teleqna(small_zip, categories=["Lexikon"])
    assert "Lexicon" in excinfo.value.hint


def test_a_bad_entry_outside_the_wanted_categories_does_not_block(tmp_path: Path) -> None:
    bad = with_entry(tmp_path, "question 2", answer="option 9: nothing")  # Research overview
    splits = teleqna.load_teleqna(bad, categories=["Lexicon"])
    assert {r["id"] for r in splits.pool + splits.eval} == {"teleqna-0", "teleqna-4"}


def test_limits_keep_the_first_records_of_each_split(large_zip: Path) -> None:
    full = teleqna.load_teleqna(large_zip)
    limited = teleqna.load_teleqna(large_zip, pool_limit=5, eval_limit=2)
    assert limited.pool == full.pool[:5]
    assert limited.eval == full.eval[:2]


# --- malformed entries ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "changes", "field", "reason"),
    [
        ("question 1", {"answer": "option 4: The SMF"}, "answer", "names option 4, but the entry has options 1 to 3"),
        ("question 1", {"answer": "option 2: The AMF"}, "answer", "(it is the text of option 1)"),
        ("question 2", {"answer": "option 3: Lower spectral efficiency"}, "answer", "differs from option 3"),
        ("question 1", {"answer": "The gNB"}, "answer", "expected 'option K: <text>'"),
        ("question 3", {"option 2": None}, "option 2", "missing, though option 5 exists"),
        ("question 1", {"option 0": "The SMF"}, "option 0", "numbered from 1"),
        ("question 0", {"option 2": None}, "option 2", "needs at least 2 options"),
        ("question 2", {"option 3": "  "}, "option 3", "empty"),
        ("question 2", {"question": None}, "question", "missing"),
        ("question 2", {"category": 7}, "category", "expected a string, got int"),
    ],
)
def test_malformed_entry_names_file_row_and_field(
    tmp_path: Path, key: str, changes: dict, field: str, reason: str
) -> None:
    bad = with_entry(tmp_path, key, **changes)
    with pytest.raises(DataError) as excinfo:
        teleqna.load_teleqna(bad)
    assert problem_of(excinfo) == (f"{bad}/TeleQnA.txt", int(key.split()[1]), field)
    assert reason in excinfo.value.problems[0].reason


def test_malformed_key_is_named(tmp_path: Path) -> None:
    bad = write_zip(tmp_path / "bad.zip", {**ENTRIES, "q7": ENTRIES["question 0"]})
    with pytest.raises(DataError, match="key 'q7' is not of the form 'question N'"):
        teleqna.load_teleqna(bad)


def test_every_invalid_entry_is_reported_at_once(tmp_path: Path) -> None:
    entries = {**ENTRIES}
    entries["question 1"] = {**ENTRIES["question 1"], "answer": "option 7: x"}
    entries["question 4"] = {**ENTRIES["question 4"], "question": ""}
    bad = write_zip(tmp_path / "bad.zip", entries)
    with pytest.raises(DataError, match="2 invalid entries") as excinfo:
        teleqna.load_teleqna(bad)
    assert [(p.row, p.field) for p in excinfo.value.problems] == [(1, "answer"), (4, "question")]


def test_skip_invalid_leaves_out_and_returns_the_bad_entries(tmp_path: Path) -> None:
    bad = with_entry(tmp_path, "question 1", answer="option 4: The SMF")
    splits = teleqna.load_teleqna(bad, skip_invalid=True)
    assert "teleqna-1" not in all_records(splits) and len(all_records(splits)) == len(ENTRIES) - 1
    assert [(p.row, p.field) for p in splits.skipped["question 1"]] == [(1, "answer")]


# --- the zip itself ------------------------------------------------------------------


def test_wrong_password_is_one_clear_error(tmp_path: Path) -> None:
    locked = write_zip(tmp_path / "TeleQnA.zip", ENTRIES, password="another")
    with pytest.raises(DataError) as excinfo:
        teleqna.load_teleqna(locked)
    assert str(excinfo.value) == f"{locked}/TeleQnA.txt: wrong password"
    assert "netop-team/TeleQnA" in excinfo.value.hint


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        (b"not a zip", "not a readable zip file"),
        ("other-member", "not the TeleQnA zip: no TeleQnA.txt inside (it holds other.txt)"),
        ([ENTRIES["question 0"]], "not the TeleQnA format: expected a JSON object keyed 'question N', got a list"),
        ("{not json", "not the TeleQnA format: line 1: malformed JSON"),
    ],
)
def test_a_file_that_is_not_teleqna_is_one_clear_error(tmp_path: Path, content: object, reason: str) -> None:
    path = tmp_path / "TeleQnA.zip"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "other-member":
        write_zip(path, ENTRIES, member="other.txt")
    elif content is not None:
        with pyzipper.AESZipFile(path, "w", encryption=pyzipper.WZ_AES) as archive:
            archive.setpassword(teleqna.PASSWORD.encode())
            archive.writestr(teleqna.MEMBER, content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DataError) as excinfo:
        teleqna.load_teleqna(path)
    assert "\n" not in str(excinfo.value) and reason in str(excinfo.value)


# --- CLI -----------------------------------------------------------------------------


def test_cli_writes_both_splits_that_load_as_records(large_zip: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "data" / "teleqna"
    assert main(["data", "teleqna", "--zip", str(large_zip), "--out-dir", str(out)]) == 0
    pool = load_records(str(out / "teleqna_pool.jsonl"), ColumnMap(), split="pool")
    eval_set = load_records(str(out / "teleqna_eval.jsonl"), ColumnMap(), split="eval")
    check_disjoint(pool.table, eval_set.table)
    expected = teleqna.load_teleqna(large_zip)
    assert pool.table.drop(["row"]).to_pylist() == expected.pool
    assert eval_set.table.drop(["row"]).to_pylist() == expected.eval
    printed = capsys.readouterr().out
    assert (
        f"wrote {len(expected.pool)} pool records" in printed and "sha256" in printed and "never committed" in printed
    )


def test_cli_prints_counts_per_category_and_split(large_zip: Path, tmp_path: Path, capsys) -> None:
    argv = [
        "data",
        "teleqna",
        "--zip",
        str(large_zip),
        "--out-dir",
        str(tmp_path),
        "--category",
        "Lexicon",
        "--pool-limit",
        "4",
        "--eval-limit",
        "1",
    ]
    assert main(argv) == 0
    assert re.search(r"Lexicon\W+4\W+1\W", capsys.readouterr().out)


def test_cli_lists_what_skip_invalid_left_out(tmp_path: Path, capsys) -> None:
    bad = with_entry(tmp_path, "question 1", answer="option 4: The SMF")
    assert main(["data", "teleqna", "--zip", str(bad), "--out-dir", str(tmp_path / "out"), "--skip-invalid"]) == 0
    printed = capsys.readouterr().out
    assert "left out 1 invalid entries" in printed and "row 1, field 'answer'" in printed


def test_cli_invalid_entries_exit_2_with_a_hint(tmp_path: Path, capsys) -> None:
    bad = with_entry(tmp_path, "question 1", answer="option 4: The SMF")
    assert main(["data", "teleqna", "--zip", str(bad), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "1 invalid entry" in err and "--skip-invalid" in err
    assert not (tmp_path / "out").exists()


def test_cli_wrong_password_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    locked = write_zip(tmp_path / "TeleQnA.zip", ENTRIES, password="another")
    assert main(["data", "teleqna", "--zip", str(locked), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.replace("\n", "")  # rich folds long lines at the console width
    assert err.startswith(f"error: {locked}/TeleQnA.txt: wrong passwordhint: ")


def test_cli_requires_zip_when_the_default_is_absent(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["data", "teleqna", "--out-dir", "out"]) == 2
    assert "--zip is required" in capsys.readouterr().err


# --- config, import hygiene, real data ----------------------------------------------


def test_teleqna_config_reads_the_imported_files() -> None:
    cfg = load_config(REPO / "configs/teleqna-smollm2.yaml")
    assert (cfg.data.pool, cfg.data.eval) == ("data/teleqna/teleqna_pool.jsonl", "data/teleqna/teleqna_eval.jsonl")
    assert cfg.data.limit == 200 and cfg.data.eval_limit == 100


def test_importing_teleqna_pulls_in_no_orchestration() -> None:
    import subprocess
    import sys

    code = (
        "import sys, edco.datasets.teleqna\n"
        "bad = [m for m in ('prefect', 'mlflow', 'flows', 'tasks', 'storage') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not REAL_ZIP.is_file(), reason=f"the real TeleQnA zip is not at {REAL_ZIP}")
def test_real_teleqna_parses_with_the_published_counts(tmp_path: Path) -> None:
    _, entries = teleqna.read_entries(REAL_ZIP)
    assert len(entries) == 10_000
    assert Counter(value["category"] for _, value in entries) == {
        "Research publications": 4500,
        "Standards specifications": 2000,
        "Research overview": 2000,
        "Standards overview": 1000,
        "Lexicon": 500,
    }
    assert Counter(sum(k.startswith("option ") for k in value) for _, value in entries) == {
        5: 6441,
        4: 3456,
        3: 87,
        2: 16,
    }
    # Four entries whose answer text contradicts the option it names (checked by hand).
    splits = teleqna.load_teleqna(REAL_ZIP, skip_invalid=True)
    assert sorted(splits.skipped) == ["question 3780", "question 4185", "question 4956", "question 6783"]
    assert len(splits.pool) + len(splits.eval) == 10_000 - 4
    out = tmp_path / "teleqna"
    assert main(["data", "teleqna", "--zip", str(REAL_ZIP), "--out-dir", str(out), "--skip-invalid"]) == 0
    pool = load_records(str(out / "teleqna_pool.jsonl"), ColumnMap(), split="pool")
    eval_set = load_records(str(out / "teleqna_eval.jsonl"), ColumnMap(), split="eval")
    check_disjoint(pool.table, eval_set.table)  # repeated question texts never straddle the split
    free = teleqna.load_teleqna(REAL_ZIP, skip_invalid=True, kind="reference")
    assert free.option_dependent == 903  # 9.0% of the valid questions, by `needs_options`
    assert len(free.pool) + len(free.eval) == 10_000 - 4 - 903


# --- free-form -----------------------------------------------------------------------

OPTION_DEPENDENT = {
    "question 900": {
        "question": "Which of the following is a 5G core function?",
        "option 1": "AMF",
        "option 2": "MME",
        "answer": "option 1: AMF",
        "explanation": "The AMF is in the 5G core.",
        "category": "Lexicon",
    },
    "question 901": {
        "question": "What does the gNB provide?",
        "option 1": "User plane",
        "option 2": "Control plane",
        "option 3": "All of the above",
        "answer": "option 3: All of the above",
        "explanation": "Both planes.",
        "category": "Lexicon",
    },
}


def test_a_free_form_import_keeps_the_split_and_leaves_out_option_dependent_questions(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "TeleQnA.zip", {**ENTRIES, **numbered_entries(60), **OPTION_DEPENDENT})
    choice = teleqna.load_teleqna(path)
    free = teleqna.load_teleqna(path, kind="reference")
    assert free.option_dependent == 2
    kept = {r["id"] for split in (free.pool, free.eval) for r in split}
    assert "teleqna-900" not in kept and "teleqna-901" not in kept
    for free_split, choice_split in ((free.pool, choice.pool), (free.eval, choice.eval)):
        expected = [r for r in choice_split if r["id"] not in ("teleqna-900", "teleqna-901")]
        assert [r["id"] for r in free_split] == [r["id"] for r in expected], "not the choice import's split"
    ran = next(r for split in (free.pool, free.eval) for r in split if r["id"] == "teleqna-0")
    assert ran == {
        "id": "teleqna-0",
        "question": "What does RAN stand for?",
        "reference": "Radio Access Network. RAN is the radio access network.",
        "category": ENTRIES["question 0"]["category"],
    }
    no_explanation = next(r for split in (free.pool, free.eval) for r in split if r["id"] == "teleqna-100")
    assert no_explanation["reference"] == "101"  # option 2 of entry 100, nothing after it


def test_cli_imports_teleqna_free_form_and_says_how_many_it_left_out(tmp_path: Path, capsys) -> None:
    path = write_zip(tmp_path / "TeleQnA.zip", {**ENTRIES, **numbered_entries(60), **OPTION_DEPENDENT})
    out = tmp_path / "free"
    assert main(["data", "teleqna", "--zip", str(path), "--out-dir", str(out), "--kind", "reference"]) == 0
    assert "left out 2 questions that need their options" in capsys.readouterr().out
    pool = load_records(str(out / "teleqna_pool.jsonl"), ColumnMap(), split="pool")
    assert pool.kind == "reference" and pool.format == "edco"
