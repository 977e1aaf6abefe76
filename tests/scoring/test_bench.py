"""`edco bench prefix-vs-full`: rank agreement on hand-computed cases, and the wiring on the tiny model."""

from __future__ import annotations

import pytest
import yaml
from scipy import stats

from edco.cli.app import main
from edco.config.schema import ScoringConfig
from edco.scoring.agreement import agreement, prefix_vs_full, top_overlap
from edco.scoring.entropy import score_table
from tests.helpers import QUESTIONS, make_records, tiny_config


def test_top_overlap_counts_shared_members_of_the_top_n():
    reference = [0.9, 0.8, 0.7, 0.1, 0.0]
    assert top_overlap(reference, reference, 2) == 1.0
    assert top_overlap([0.0, 0.1, 0.7, 0.8, 0.9], reference, 2) == 0.0
    assert top_overlap([0.9, 0.1, 0.8, 0.7, 0.0], reference, 2) == 0.5  # {0, 2} against {0, 1}
    assert (
        top_overlap([1.0, 1.0, 1.0, 0.0, 0.0], reference, 2) == 1.0
    )  # ties go to the earlier sample, as select() does


def test_reversed_ranking_disagrees_completely():
    assert agreement([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], 2) == pytest.approx(
        {"spearman": -1.0, "kendall": -1.0, "top_overlap": 0.0}
    )
    # one swap among 4: rho = 1 - 6 * 2 / (4 * 15) = 0.8; tau = (5 - 1) / 6
    assert agreement([1, 2, 4, 3], [1, 2, 3, 4], 1) == pytest.approx(
        {"spearman": 0.8, "kendall": 4 / 6, "top_overlap": 0.0}
    )


def test_rows_compare_each_setting_with_the_longest_full_one(tiny):
    model, tokenizer = tiny
    records = make_records(QUESTIONS)
    base = ScoringConfig(batch_size=3)
    rows = prefix_vs_full(model, tokenizer, records, base, [2, 6], [1, 3], top_n=3)
    assert [r["setting"] for r in rows] == ["full <= 2", "full <= 6", "prefix k=1", "prefix k=3"]
    reference = rows[1]
    assert (
        reference["saving"] == 0.0 and reference["spearman"] == pytest.approx(1.0) and reference["top_overlap"] == 1.0
    )
    assert all(r["seconds_per_sample"] > 0 for r in rows)
    assert rows[2]["generated_tokens"] <= 1 and rows[3]["generated_tokens"] <= 3
    # the same tables scored directly: the bench pairs each sample with itself
    full = score_table(model, tokenizer, records, base.model_copy(update={"mode": "full", "max_new_tokens": 6}))[
        "score"
    ].to_pylist()
    prefix = score_table(model, tokenizer, records, base.model_copy(update={"mode": "prefix", "prefix_tokens": 3}))[
        "score"
    ].to_pylist()
    assert rows[3]["spearman"] == pytest.approx(stats.spearmanr(prefix, full).statistic, abs=1e-9)
    assert rows[3]["top_overlap"] == top_overlap(prefix, full, 3)


def test_cli_prints_one_row_per_setting(tiny_model_dir, tmp_path, capsys):
    config = tmp_path / "bench.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_model_dir, tmp_path / "store")))
    assert (
        main(["bench", "prefix-vs-full", str(config), "--n", "6", "--full", "4", "--prefix", "1,2", "--top-n", "2"])
        == 0
    )
    out = capsys.readouterr().out
    assert "6 pool items" in out and "N = 2" in out
    assert [
        line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ") and "setting" not in line
    ] == [
        "full <= 4",
        "prefix k=1",
        "prefix k=2",
    ]
    assert main(["bench", "prefix-vs-full", str(config), "--full", ""]) == 2
