"""The record contract: every format loads to the same table, and every bad row is named
with its file, row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from edco.config.schema import ColumnMap
from edco.data.records import RECORD_SCHEMA, check_disjoint
from edco.datasets.readers import _split_hf_spec, load_records
from edco.errors import DataError

DEFAULT = ColumnMap()
GOOD = [
    {"id": "q1", "question": "2 + 2 = ?", "choices": ["3", "4"], "answer": 1, "category": "math"},
    {"id": "q2", "question": "Capital of France?", "choices": ["Paris", "Rome", "Oslo"], "answer": 0, "category": None},
    {
        "id": "q3",
        "question": "Largest organ?",
        "choices": ["Liver", "Heart", "Lung", "Skin"],
        "answer": 3,
        "category": "bio",
    },
]
DROP = object()


def rec(**changes: object) -> dict:
    """A valid record with some fields changed (or removed with DROP)."""
    record = {"id": "r", "question": "Which?", "choices": ["a", "b", "c", "d"], "answer": 0, "category": "x"}
    record.update(changes)
    return {k: v for k, v in record.items() if v is not DROP}


def jsonl(*rows: object) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


def write(path: Path, content: str | bytes | list[dict]) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(content), path)
    return path


def csv_of(records: list[dict]) -> str:
    """GOOD-shaped records as a CSV with one column per option (opt_a..opt_d)."""
    lines = ["id,question,opt_a,opt_b,opt_c,opt_d,answer,category"]
    for r in records:
        options = r["choices"] + [""] * (4 - len(r["choices"]))
        lines.append(",".join([r["id"], r["question"], *options, str(r["answer"]), r["category"] or ""]))
    return "\n".join(lines) + "\n"


OPTION_COLUMNS = ColumnMap(choices=["opt_a", "opt_b", "opt_c", "opt_d"])
CSV_HEADER = "id,question,choices,answer,category\n"

BAD_INPUTS = [
    pytest.param(
        "a.jsonl",
        jsonl(rec(id="a"), '{"id": "b", "question": '),
        None,
        ["row 2", "malformed JSON"],
        id="malformed-json-line",
    ),
    pytest.param(
        "a.jsonl", jsonl(rec(id="a"), "[1, 2]"), None, ["row 2", "expected an object, got list"], id="non-object-line"
    ),
    pytest.param("a.jsonl", jsonl(rec(question=DROP)), None, ["row 1", "'question'", "missing"], id="missing-field"),
    pytest.param(
        "a.jsonl",
        jsonl(rec(question=42)),
        None,
        ["row 1", "'question'", "expected a string, got int 42"],
        id="question-not-string",
    ),
    pytest.param(
        "a.jsonl",
        jsonl(rec(choices=7)),
        None,
        ["row 1", "'choices'", "expected a list or a dict"],
        id="choices-not-list",
    ),
    pytest.param(
        "a.jsonl",
        jsonl(rec(id="a"), rec(id="b"), rec(id="c", answer=4)),
        None,
        ["row 3", "'answer'", "index 4 is out of range 0-3"],
        id="answer-out-of-range",
    ),
    pytest.param(
        "a.jsonl",
        jsonl(rec(answer="E")),
        None,
        ["row 1", "'answer'", "letter 'E' is beyond the 4 choices (A-D)"],
        id="letter-beyond-choices",
    ),
    pytest.param("a.jsonl", jsonl(rec(answer=1.5)), None, ["row 1", "'answer'", "got float 1.5"], id="answer-fraction"),
    pytest.param("a.jsonl", jsonl(rec(answer=True)), None, ["row 1", "'answer'", "got bool True"], id="answer-bool"),
    pytest.param(
        "a.jsonl", jsonl(rec(answer="maybe")), None, ["row 1", "'answer'", "got str 'maybe'"], id="answer-other-string"
    ),
    pytest.param(
        "a.jsonl",
        jsonl(rec(choices=["only"])),
        None,
        ["row 1", "'choices'", "needs 2 to 10 choices, got 1"],
        id="fewer-than-2-choices",
    ),
    pytest.param(
        "a.jsonl",
        jsonl(rec(choices=[str(i) for i in range(11)])),
        None,
        ["row 1", "'choices'", "got 11"],
        id="more-than-10-choices",
    ),
    pytest.param(
        "a.jsonl", jsonl(rec(choices=["a", " "])), None, ["row 1", "'choices'", "choice 2 is empty"], id="empty-choice"
    ),
    pytest.param(
        "a.jsonl",
        jsonl(rec(choices=["a", 3])),
        None,
        ["row 1", "'choices'", "choice 2 must be a string"],
        id="choice-not-string",
    ),
    pytest.param(
        "a.jsonl",
        jsonl(rec(id="q1"), rec(id="q2"), rec(id="q1")),
        None,
        ["row 3", "'id'", "duplicate id 'q1' (first on row 1)"],
        id="duplicate-id",
    ),
    pytest.param("a.jsonl", jsonl(rec(id=1.5)), None, ["row 1", "'id'", "expected a string"], id="id-wrong-type"),
    pytest.param("a.jsonl", jsonl(rec(question="   ")), None, ["row 1", "'question'", "empty"], id="empty-question"),
    pytest.param(
        "a.jsonl", jsonl(rec(category=5)), None, ["row 1", "'category'", "got int 5"], id="category-wrong-type"
    ),
    pytest.param(
        "a.jsonl",
        jsonl(rec(id="a")).encode() + b'{"id": "b\xff"}\n',
        None,
        ["row 2", "not valid UTF-8 (byte 0xff at column 10)"],
        id="non-utf8-jsonl",
    ),
    pytest.param(
        "a.csv",
        (CSV_HEADER + 'a,Q?,"[""x"",""y""]",0,\n').encode() + b'b,Q\xe9,"[""x"",""y""]",0,\n',
        None,
        ["line 3", "not valid UTF-8 (byte 0xe9"],
        id="non-utf8-csv",
    ),
    pytest.param(
        "a.json", b'[\n{"id": "a"},\n{"id": "\xff"}\n]', None, ["line 3", "not valid UTF-8"], id="non-utf8-json"
    ),
    pytest.param("a.json", '[\n{"id": "a",\n]', None, ["line 3", "malformed JSON"], id="malformed-json-file"),
    pytest.param(
        "a.json", json.dumps(rec()), None, ["expected a JSON array of objects, got dict"], id="json-not-array"
    ),
    pytest.param("a.jsonl", "\n\n", None, ["no records"], id="empty-pool"),
    pytest.param(
        "a.txt",
        "id,question\n",
        None,
        ["unsupported format '.txt'", ".jsonl, .json, .csv, .parquet"],
        id="unsupported-extension",
    ),
    pytest.param("absent.jsonl", None, None, ["no such file"], id="missing-file"),
    pytest.param(
        "a.csv",
        CSV_HEADER + 'a,Q?,"[""x"",""y""]",1,\nb,Q?,"[""x"",""y""]",Z,\n',
        None,
        ["row 3", "'answer'", "got str 'Z'"],
        id="csv-bad-answer",
    ),
    pytest.param(
        "a.csv",
        CSV_HEADER + 'a,Q?,"[""x"",""y""]",1,\nb,Q?,"x,y",1,\n',
        None,
        ["row 3", "'choices'", "expected a list or a JSON list string"],
        id="csv-choices-not-json",
    ),
    pytest.param(
        "a.csv",
        CSV_HEADER + 'a,Q?,"[""x"",""y""]",1,\nb,Q?\n',
        None,
        ["row 3", "2 cells but the header has 5"],
        id="csv-short-row",
    ),
    pytest.param(
        "a.csv",
        "id,question,opt_a,opt_b,answer\na,Q?,x,y,1\n",
        OPTION_COLUMNS,
        ["row 2", "'opt_c'", "missing"],
        id="csv-option-column-missing",
    ),
    pytest.param(
        "a.parquet",
        [{k: v for k, v in r.items() if k != "answer"} for r in GOOD],
        None,
        ["row 1", "'answer'", "missing"],
        id="parquet-missing-column",
    ),
    pytest.param(
        "a.jsonl",
        jsonl(rec(choices=["x", "y\x00z"])),
        None,
        ["row 1", "'choices'", "choice 2 contains a NUL character (\\u0000) at character 1"],
        id="jsonl-nul-in-a-choice",
    ),
]


@pytest.mark.parametrize(("name", "content", "columns", "fragments"), BAD_INPUTS)
def test_bad_input_is_refused_naming_file_row_and_field(
    tmp_path: Path, name: str, content: str | bytes | list[dict] | None, columns: ColumnMap | None, fragments: list[str]
) -> None:
    path = tmp_path / name
    if content is not None:
        write(path, content)
    with pytest.raises(DataError) as caught:
        load_records(str(path), columns or DEFAULT)
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert caught.value.problems


def test_every_problem_of_the_file_is_reported_at_once(tmp_path: Path) -> None:
    rows = [rec(id=f"r{i}", answer=9) for i in range(25)] + [rec(id="ok"), rec(id="x", question="")]
    path = write(tmp_path / "many.jsonl", jsonl(*rows))
    with pytest.raises(DataError) as caught:
        load_records(str(path), DEFAULT)
    message = str(caught.value)
    assert message.splitlines()[0] == f"{path}: 26 invalid row(s)"
    assert len(message.splitlines()) == 1 + 20 + 1
    assert message.splitlines()[-1] == "  ... and 6 more"
    assert [(p.row, p.field) for p in caught.value.problems][-2:] == [(25, "answer"), (27, "question")]


def test_one_row_reports_each_bad_field(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", jsonl(rec(question=3, choices=["x"], answer=True)))
    with pytest.raises(DataError) as caught:
        load_records(str(path), DEFAULT)
    assert [(p.row, p.field) for p in caught.value.problems] == [(1, "question"), (1, "choices"), (1, "answer")]


def test_all_formats_load_to_the_same_table(tmp_path: Path) -> None:
    sources = {
        "jsonl": (write(tmp_path / "d.jsonl", jsonl(*GOOD)), DEFAULT, [1, 2, 3]),
        "json": (write(tmp_path / "d.json", json.dumps(GOOD, indent=1)), DEFAULT, [1, 2, 3]),
        "csv": (write(tmp_path / "d.csv", csv_of(GOOD)), OPTION_COLUMNS, [2, 3, 4]),
        "parquet": (write(tmp_path / "d.parquet", GOOD), DEFAULT, [1, 2, 3]),
    }
    for fmt, (path, columns, rows) in sources.items():
        result = load_records(str(path), columns)
        assert result.table.schema.remove_metadata() == RECORD_SCHEMA, fmt
        assert result.table.schema.metadata == {b"source": str(path).encode()}, fmt
        assert result.table.drop(["row"]).to_pylist() == GOOD, fmt
        assert result.table.column("row").to_pylist() == rows, fmt
        assert result.quarantined == [], fmt


def test_csv_choices_may_be_a_json_list_cell(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", CSV_HEADER + 'a,Q?,"[""x"",""y""]",1,topic\n')
    table = load_records(str(path), DEFAULT).table
    assert table.to_pylist() == [
        {"id": "a", "question": "Q?", "choices": ["x", "y"], "answer": 1, "category": "topic", "row": 2}
    ]


def test_jsonl_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", "\n" + jsonl(GOOD[0]) + "\n   \n" + jsonl(GOOD[1]))
    assert load_records(str(path), DEFAULT).table.column("row").to_pylist() == [2, 5]


def test_letter_answers_digit_strings_and_int_ids_are_converted(tmp_path: Path) -> None:
    rows = [rec(id=7, answer="B"), rec(id="8", answer="c"), rec(id="9", answer=" 3 "), rec(id="10", answer=2.0)]
    table = load_records(str(write(tmp_path / "d.jsonl", jsonl(*rows))), DEFAULT).table
    assert table.column("id").to_pylist() == ["7", "8", "9", "10"]
    assert table.column("answer").to_pylist() == [1, 2, 3, 2]


def test_limit_keeps_first_rows_before_validation(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", jsonl(*GOOD, rec(id="bad", answer=99)))
    result = load_records(str(path), DEFAULT, limit=2)
    assert result.table.column("id").to_pylist() == ["q1", "q2"]


def test_column_map_renames_dict_choices_and_derived_ids(tmp_path: Path) -> None:
    rows = [
        {"stem": "Dose?", "options": {"A": "1 mg", "B": "2 mg", "C": "5 mg"}, "label": "C", "topic": "pharm"},
        {"stem": "Organ?", "options": {"A": "Liver", "B": "Skin"}, "label": 0},
    ]
    columns = ColumnMap(id=None, question="stem", choices="options", answer="label", category="topic")
    table = load_records(str(write(tmp_path / "medqa.jsonl", jsonl(*rows))), columns).table
    assert table.to_pylist() == [
        {
            "id": "pool-row-1",
            "question": "Dose?",
            "choices": ["1 mg", "2 mg", "5 mg"],
            "answer": 2,
            "category": "pharm",
            "row": 1,
        },
        {
            "id": "pool-row-2",
            "question": "Organ?",
            "choices": ["Liver", "Skin"],
            "answer": 0,
            "category": None,
            "row": 2,
        },
    ]


def test_category_column_may_be_unset(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", jsonl(rec(category=5)))
    table = load_records(str(path), ColumnMap(category=None)).table
    assert table.column("category").to_pylist() == [None]


def test_skip_invalid_quarantines_bad_rows_and_keeps_good_ones(tmp_path: Path) -> None:
    lines = [rec(id="a"), "{not json", rec(id="b", answer="Z", question=""), rec(id="c"), rec(id="a")]
    path = write(tmp_path / "d.jsonl", jsonl(*lines))
    result = load_records(str(path), DEFAULT, skip_invalid=True)
    assert result.table.column("id").to_pylist() == ["a", "c"]
    assert result.table.column("row").to_pylist() == [1, 4]
    assert [(q["row"], q["field"]) for q in result.quarantined] == [(2, None), (3, "question"), (5, "id")]
    assert all(q["file"] == str(path) for q in result.quarantined)
    assert result.quarantined[0]["raw"] == "{not json"
    assert result.quarantined[1]["raw"] == rec(id="b", answer="Z", question="")
    assert result.quarantined[1]["reason"].startswith("'question': empty; 'answer': expected a 0-based index")
    assert result.quarantined[2]["reason"] == "'id': duplicate id 'a' (first on row 1)"
    json.dumps(result.quarantined)


def test_skip_invalid_with_no_valid_row_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", jsonl(rec(answer=9)))
    with pytest.raises(DataError, match=r"no valid records \(1 quarantined\)"):
        load_records(str(path), DEFAULT, skip_invalid=True)


def test_hf_local_dataset(tmp_path: Path) -> None:
    import datasets

    datasets.Dataset.from_list(GOOD).save_to_disk(str(tmp_path / "ds"))
    spec = f"hf:{tmp_path / 'ds'}"
    result = load_records(spec, DEFAULT)
    assert result.table.drop(["row"]).to_pylist() == GOOD
    assert result.table.schema.metadata == {b"source": spec.encode()}
    with pytest.raises(DataError, match="one dataset without splits; drop ':test'"):
        load_records(spec + ":test", DEFAULT)


def test_hf_local_dataset_dict_split(tmp_path: Path) -> None:
    import datasets

    splits = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(GOOD[:1]), "test": datasets.Dataset.from_list(GOOD[1:])}
    )
    splits.save_to_disk(str(tmp_path / "dd"))
    assert load_records(f"hf:{tmp_path / 'dd'}:test", DEFAULT).table.drop(["row"]).to_pylist() == GOOD[1:]
    assert load_records(f"hf:{tmp_path / 'dd'}", DEFAULT).table.column("id").to_pylist() == ["q1"]
    with pytest.raises(DataError, match=r"no split 'validation' \(available: train, test\)"):
        load_records(f"hf:{tmp_path / 'dd'}:validation", DEFAULT)


def test_hf_load_failure_names_the_spec(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    spec = f"hf:{tmp_path / 'empty'}"
    with pytest.raises(DataError, match="cannot load the dataset") as caught:
        load_records(spec, DEFAULT)
    assert spec in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("hf:/abs/dir:test", ("/abs/dir", "test")),
        ("hf:org/name:validation", ("org/name", "validation")),
        ("hf:org/name", ("org/name", None)),
        ("hf:/abs/d:ir/sub", ("/abs/d:ir/sub", None)),
    ],
)
def test_hf_spec_splits_on_last_colon_only(spec: str, expected: tuple[str, str | None]) -> None:
    assert _split_hf_spec(spec) == expected


def test_check_disjoint(tmp_path: Path) -> None:
    pool = load_records(str(write(tmp_path / "pool.jsonl", jsonl(*GOOD))), DEFAULT).table
    eval_ = load_records(str(write(tmp_path / "eval.jsonl", jsonl(rec(id="e1"), rec(id="q2")))), DEFAULT).table
    with pytest.raises(DataError) as caught:
        check_disjoint(pool, eval_)
    message = str(caught.value)
    assert (
        message.startswith(f"{tmp_path / 'eval.jsonl'}: ") and f"also in the pool {tmp_path / 'pool.jsonl'}" in message
    )
    assert (2, "id") in [(p.row, p.field) for p in caught.value.problems]
    assert "id 'q2' is also in the pool" in message


def test_check_disjoint_catches_the_same_question_under_another_id(tmp_path: Path) -> None:
    pool = load_records(
        str(write(tmp_path / "pool.jsonl", jsonl(rec(id="p1", question="Why  is the link DOWN?")))), DEFAULT
    ).table
    eval_ = load_records(
        str(write(tmp_path / "eval.jsonl", jsonl(rec(id="e1", question="why is the link down?")))), DEFAULT
    ).table
    with pytest.raises(DataError) as caught:
        check_disjoint(pool, eval_)
    assert [(p.row, p.field) for p in caught.value.problems] == [(1, "question")]


@pytest.mark.parametrize("split", ["pool", "eval"])
def test_demo_spec_loads_valid_records(split: str) -> None:
    result = load_records("demo", ColumnMap(id=None, question="stem"), limit=5, split=split, seed=3)
    assert result.table.num_rows == 5
    assert result.table.schema.metadata == {b"source": b"demo"}
    assert result.table.column("row").to_pylist() == [1, 2, 3, 4, 5]
    assert result.quarantined == []
