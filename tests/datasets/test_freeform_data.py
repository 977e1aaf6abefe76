"""Reference and chat records: the layouts that load with no column map, and every bad row named by
file, row and field before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from edco.config.schema import ColumnMap
from edco.data.kinds import SCHEMAS, kind_of, references, rows
from edco.data.prompts import check_lengths
from edco.datasets import demo
from edco.datasets.readers import load_records
from edco.errors import DataError

CHAT = [
    {"role": "system", "content": "You are a network engineer."},
    {"role": "user", "content": "Why is GE1/0/2 down?"},
    {"role": "assistant", "content": "Which device?"},
    {"role": "user", "content": "CE-SW01."},
    {"role": "assistant", "content": "A fiber cut: CRC errors rose before the link went down."},
]

LAYOUTS = {  # name -> (rows, kind, layout, the first record's fields that matter)
    "alpaca": (
        [{"instruction": "Why is GE1/0/2 down?", "input": "CRC errors rising.", "output": "A fiber cut."}],
        "reference",
        "alpaca",
        {"question": "Why is GE1/0/2 down?", "context": "CRC errors rising.", "reference": "A fiber cut."},
    ),
    "alpaca-no-input": (
        [{"instruction": "Why is GE1/0/2 down?", "input": "", "output": "A fiber cut."}],
        "reference",
        "alpaca",
        {"question": "Why is GE1/0/2 down?", "context": None, "reference": "A fiber cut."},
    ),
    "prompt-completion": (
        [{"prompt": "Why is GE1/0/2 down?", "completion": "A fiber cut."}],
        "reference",
        "prompt-completion",
        {"question": "Why is GE1/0/2 down?", "reference": "A fiber cut.", "references": []},
    ),
    "conversational prompt-completion": (
        [{"prompt": CHAT[:4], "completion": CHAT[4:]}],
        "chat",
        "prompt-completion (conversational)",
        {"messages": CHAT, "question": "CE-SW01."},
    ),
    "sharegpt": (
        [
            {
                "conversations": [
                    {"from": "system", "value": CHAT[0]["content"]},
                    {"from": "human", "value": CHAT[1]["content"]},
                    {"from": "gpt", "value": CHAT[4]["content"]},
                ]
            }
        ],
        "chat",
        "sharegpt",
        {"messages": [CHAT[0], CHAT[1], CHAT[4]], "question": CHAT[1]["content"]},
    ),
    "messages": ([{"id": "c1", "messages": CHAT}], "chat", "edco", {"id": "c1", "messages": CHAT}),
    "reference": (
        [
            {
                "id": "r1",
                "question": "Why?",
                "reference": "A fiber cut.",
                "references": ["Fiber cut"],
                "system": "Be brief.",
            }
        ],
        "reference",
        "edco",
        {"id": "r1", "references": ["Fiber cut"], "system": "Be brief."},
    ),
}


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("name", LAYOUTS)
def test_each_layout_loads_with_no_column_map(tmp_path, name):
    records, kind, layout, fields = LAYOUTS[name]
    loaded = load_records(str(write_jsonl(tmp_path / "data.jsonl", records)), ColumnMap())
    assert (loaded.kind, loaded.format, kind_of(loaded.table)) == (kind, layout, kind)
    assert loaded.table.schema.remove_metadata() == SCHEMAS[kind]
    first = loaded.table.to_pylist()[0]
    assert {key: first[key] for key in fields} == fields
    if "id" not in records[0]:
        assert first["id"] == "pool-row-1"  # free-form data rarely has ids: derived from the row


def test_a_csv_of_reference_records_reads_other_answers_from_a_json_list(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('id,question,reference,references\nr1,Why?,A fiber cut.,"[""fiber cut"", ""cut fiber""]"\n')
    (record,) = rows(load_records(str(path), ColumnMap()).table)
    assert references(record) == ["A fiber cut.", "fiber cut", "cut fiber"]


def test_a_column_map_names_other_columns(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", [{"key": "k1", "ask": "Why?", "gold": "A fiber cut.", "topic": "L1"}])
    columns = ColumnMap(id="key", question="ask", reference="gold", category="topic")
    (record,) = load_records(str(path), columns).table.to_pylist()
    assert (record["id"], record["question"], record["reference"], record["category"]) == (
        "k1",
        "Why?",
        "A fiber cut.",
        "L1",
    )


BAD = [
    ({"id": "a", "question": "Why?", "reference": "  "}, "reference", "row 1, field 'reference': empty"),
    (
        {"id": "b", "question": 3, "reference": "x"},
        "reference",
        "row 2, field 'question': expected a string, got int 3",
    ),
    (
        {"id": "c", "question": "Why?", "reference": "x", "references": ["ok", ""]},
        "reference",
        "row 3, field 'references[2]': empty",
    ),
    (
        {"id": "d", "messages": CHAT[:4]},
        "chat",
        "row 4, field 'messages': the last turn must be the assistant's (the target), got role 'user'",
    ),
    (
        {"id": "e", "messages": [{"role": "tool", "content": "x"}, *CHAT[1:]]},
        "chat",
        "row 5, field 'messages': turn 1: unknown role 'tool' (expected one of system, user, assistant)",
    ),
    (
        {"id": "f", "messages": [*CHAT[:4], {"role": "assistant", "content": [{"type": "text", "text": "x"}]}]},
        "chat",
        "row 6, field 'messages': turn 5: content must be a string, got list",
    ),
    (
        {"id": "g", "messages": [CHAT[0], CHAT[4]]},
        "chat",
        "row 7, field 'messages': no user turn before the assistant's last turn",
    ),
    (
        {"id": "h", "messages": [CHAT[1], {"role": "assistant", "content": " "}]},
        "chat",
        "row 8, field 'messages[2].content': empty",
    ),
    (  # an escaped \u0000 in the JSON: valid text, refused rather than trained on
        {"id": "i", "question": "Why\x00?", "reference": "x"},
        "reference",
        "row 9, field 'question': contains a NUL character (\\u0000) at character 3",
    ),
    (
        {"id": "j", "messages": [CHAT[0], {"role": "user", "content": "a\x00b"}, CHAT[4]]},
        "chat",
        "row 10, field 'messages': turn 2: content contains a NUL character (\\u0000) at character 1",
    ),
]


@pytest.mark.parametrize("kind", ["reference", "chat"])
def test_every_bad_row_is_named_by_file_row_and_field(tmp_path, kind):
    bad = [(raw, message) for raw, k, message in BAD if k == kind]
    numbered = [raw if k == kind else {} for raw, k, _ in BAD]
    path = write_jsonl(tmp_path / "data.jsonl", numbered)
    with pytest.raises(DataError) as error:
        load_records(str(path), ColumnMap(), kind=kind)
    for _, message in bad:
        assert f"{path}, {message}" in str(error.value)


def test_skip_invalid_quarantines_bad_free_form_rows(tmp_path):
    good = {"id": "ok", "messages": CHAT}
    path = write_jsonl(tmp_path / "data.jsonl", [good, {"id": "bad", "messages": CHAT[:2]}])
    loaded = load_records(str(path), ColumnMap(), skip_invalid=True)
    assert loaded.table["id"].to_pylist() == ["ok"]
    assert [(q["row"], q["field"]) for q in loaded.quarantined] == [(2, "messages")]
    assert "got role 'user'" in loaded.quarantined[0]["reason"]


def test_a_problem_in_a_conversational_completion_names_that_column(tmp_path):
    rows_ = [
        {"prompt": CHAT[:4], "completion": [{"role": "assistant", "content": " "}]},
        {"prompt": [*CHAT[:3], {"role": "user", "content": "  "}], "completion": CHAT[4:]},
        {"prompt": CHAT[:4], "completion": [{"role": "bot", "content": "x"}]},
    ]
    path = write_jsonl(tmp_path / "data.jsonl", rows_)
    with pytest.raises(DataError) as error:
        load_records(str(path), ColumnMap())
    assert f"{path}, row 1, field 'completion[1].content': empty" in str(error.value)
    assert f"{path}, row 2, field 'prompt[4].content': empty" in str(error.value), "a blank last user turn"
    assert f"{path}, row 3, field 'completion': turn 1: unknown role 'bot'" in str(error.value)


def test_a_named_kind_reports_its_own_missing_fields(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", [{"question": "Why?", "choices": ["a", "b"], "answer": 0}])
    with pytest.raises(DataError, match=r"row 1, field 'messages': missing"):
        load_records(str(path), ColumnMap(), kind="chat")


def test_a_record_longer_than_the_context_is_refused_before_interval_0(tiny):
    _, tokenizer = tiny
    long = "CRC errors rising on GE1/0/2. " * 40
    table = pa.Table.from_pylist(
        [
            {"id": "a", "messages": [CHAT[1], {"role": "assistant", "content": "short"}], "question": "q", "row": 1},
            {"id": "b", "messages": [CHAT[1], {"role": "assistant", "content": long}], "question": "q", "row": 2},
        ],
        schema=SCHEMAS["chat"],
    ).replace_schema_metadata({b"source": b"chats.jsonl"})
    with pytest.raises(DataError, match=r"chats.jsonl, row 2, field 'messages': \d+ tokens with prompt and answer"):
        check_lengths(table, tokenizer, 128)
    check_lengths(table.slice(0, 1), tokenizer, 128)


@pytest.mark.parametrize("kind", ["reference", "chat"])
def test_the_demo_asks_each_fault_free_form_with_the_same_logs(kind):
    choice, free = demo.generate("eval", 3, 20), demo.generate("eval", 3, 20, kind)
    for c, f in zip(choice, free):
        assert f["id"] == c["id"] and f["category"] == c["category"]
        question = f["question"] if kind == "reference" else f["messages"][0]["content"]
        reference = f["reference"] if kind == "reference" else f["messages"][1]["content"]
        assert question.removesuffix(demo._FREE_FORM_QUESTION) == c["question"].removesuffix(demo._QUESTION)
        cause, _, cited = reference.partition(", shown by the log line")
        assert cause == c["choices"][c["answer"]]
        times = cited.removeprefix("s").removeprefix(" at ").removesuffix(".").replace(" and ", ", ").split(", ")
        assert times and all(any(f" {t}" in line for line in question.splitlines()[1:-1]) for t in times)
    loaded = load_records("demo", ColumnMap(), limit=5, split="eval", seed=3, kind=kind)
    assert loaded.kind == kind and loaded.table.num_rows == 5
