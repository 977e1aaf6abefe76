"""`edco compare`: members, the summary against hand-computed numbers, and a real comparison flow."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pytest

from edco.config.schema import parse_config
from edco.errors import ConfigError
from edco.faultpoints import InjectedFault
from edco.flows.compare import comparison_dir, run_comparison
from edco.models.environment import describe, environment
from edco.reporting import comparison
from edco.storage.store import RunStore
from tests.helpers import tiny_config


def interval(acc: float, base: float = 0.25, score: float = 10.0, train: float = 20.0, evaluate: float = 5.0) -> dict:
    return {
        "accuracy": acc,
        "base_accuracy": base,
        "score_seconds": score,
        "select_seconds": 0.5,
        "train_seconds": train,
        "diagnostics_seconds": 2.0,
        "evaluate_seconds": evaluate,
        "gradient_consistency": 0.9,
    }


RUNS = {
    ("edco", 0): [interval(0.30), interval(0.50)],
    ("edco", 1): [interval(0.40), interval(0.45)],
    ("edco", 2): [interval(0.35), interval(0.55)],
    ("random", 0): [interval(0.30, score=0.0), interval(0.40, score=0.0)],
    ("random", 1): [interval(0.30, score=0.0), interval(0.40, score=0.0)],
    ("random", 2): [interval(0.30, score=0.0), interval(0.50, score=0.0)],
}


def test_members_differ_only_in_strategy_and_seed(tmp_path):
    base = parse_config({"run_name": "exp", "storage": {"root": str(tmp_path)}})
    got = comparison.members(base, ["edco", "random"], [0, 1])
    assert [m.cfg.run_name for m in got] == ["exp-edco-s0", "exp-edco-s1", "exp-random-s0", "exp-random-s1"]
    for m in got:
        assert (m.cfg.selection.strategy, m.cfg.seed) == (m.strategy, m.seed)
        assert m.cfg.model_dump(exclude={"run_name", "seed", "selection"}) == base.model_dump(
            exclude={"run_name", "seed", "selection"}
        )


def test_unknown_strategy_is_refused_before_anything_runs():
    with pytest.raises(ConfigError, match="unknown \\['best'\\]"):
        comparison.members(parse_config({"run_name": "x"}), ["edco", "best"], [0])


def test_summary_matches_hand_computed_statistics():
    rows = {r["strategy"]: r for r in comparison.summarize(RUNS)}
    edco = rows["edco"]
    assert edco["final_mean"] == pytest.approx(0.5) and edco["final_std"] == pytest.approx(0.05)  # 0.50, 0.45, 0.55
    assert edco["best_mean"] == pytest.approx(0.5)
    # paired differences to random: 0.10, 0.05, 0.05; mean 0.0667, sd 0.02887, t(0.975, 2) = 4.3027
    half = 4.302652729749464 * 0.028867513459481287 / math.sqrt(3)
    assert edco["vs_baseline"] == pytest.approx(0.2 / 3) and edco["interval"] == "t over seeds"
    assert (edco["vs_baseline_lo"], edco["vs_baseline_hi"]) == pytest.approx((0.2 / 3 - half, 0.2 / 3 + half))
    assert math.isnan(rows["random"]["vs_baseline"]) and math.isnan(edco["mde"]), "no per-item results: no MDE"
    # per member: scoring 2 x (10 + 0.5) = 21 s, training 2 x (20 - 2) = 36 s, evaluation 10 s
    assert (edco["scoring_seconds"], edco["training_seconds"], edco["evaluation_seconds"]) == (21.0, 36.0, 10.0)
    assert edco["gain_per_compute_hour"] == pytest.approx((0.5 - 0.25) / (67 / 3600))
    assert rows["random"]["scoring_seconds"] == 1.0


def items(correct: list[bool], probability: list[float], categories: list[str]) -> pa.Table:
    n = len(correct)
    return pa.table(
        {
            "item_id": [f"q{i}" for i in range(n)],
            "category": categories,
            "correct": correct,
            "value": probability,
            "metric_value": [float(c) for c in correct],
        }
    )


def test_per_item_results_give_the_paired_difference_over_items_and_seeds():
    """With per-item results the difference is the mean over seeds and items of the item's
    difference (here: edco wins q0 in seed 0, loses q3 in seed 1), the interval a bootstrap over
    both, and the report adds the continuous value, the categories, the MDE and a verdict."""
    cats = ["x", "x", "y", "y"]
    tables = {
        ("edco", 0): items([True, True, False, False], [0.9, 0.6, 0.2, 0.3], cats),
        ("edco", 1): items([False, True, False, False], [0.4, 0.7, 0.1, 0.2], cats),
        ("random", 0): items([False, True, False, False], [0.3, 0.6, 0.2, 0.3], cats),
        ("random", 1): items([False, True, False, True], [0.4, 0.5, 0.1, 0.6], cats),
    }
    runs = {key: RUNS[key] for key in tables}
    rows = {r["strategy"]: r for r in comparison.summarize(runs, tables)}
    edco = rows["edco"]
    assert edco["interval"] == "bootstrap over items and seeds" and edco["eval_items"] == 4
    assert edco["vs_baseline"] == pytest.approx((1 - 1) / 8)
    assert edco["value_vs_baseline"] == pytest.approx((0.6 + 0.0 + 0.2 - 0.4) / 8)
    assert edco["vs_baseline_lo"] <= edco["vs_baseline"] <= edco["vs_baseline_hi"] and edco["mde"] > 0
    assert edco["verdict"].startswith("edco vs random: +0.000 [") and "not distinguishable" in edco["verdict"]
    categories = comparison.category_rows(tables, ["edco", "random"], "random", "accuracy")
    assert [(c["category"], c["items"], c["vs_baseline"]) for c in categories] == [("x", 2, 0.25), ("y", 2, -0.25)]
    markdown = comparison.to_markdown(list(rows.values()), categories)
    assert "| edco | x | 2 | +0.250 (under 10 items: no interval) |" in markdown  # see MIN_CATEGORY_ITEMS
    assert "- edco vs random: +0.000 [" in markdown
    assert "Continuous per-item value (gold-option probability, higher is better)" in markdown
    plan = comparison.plan(tables, ["edco", "random"], "random", "accuracy", 0.05)
    assert "edco vs random: pilot of 2 seed(s) x 4 eval items" in plan and "| 20 |" in plan


def test_the_baseline_must_be_a_member():
    base = parse_config(tiny_config(Path("."), Path("."), run_name="cmp"))
    with pytest.raises(ConfigError, match="--baseline 'static_ppl' is not among --strategies"):
        comparison.members(base, ["edco", "random"], [0], baseline="static_ppl")
    assert len(comparison.members(base, ["edco", "static_ppl"], [0], baseline="static_ppl")) == 2


def test_report_tables_and_plot(tmp_path):
    rows = comparison.summarize(RUNS)
    markdown = comparison.to_markdown(rows)
    assert "| edco | 3 | 0.500 ± 0.050 | 0.500 ± 0.050 | +0.067 [" in markdown
    assert markdown.splitlines()[1] == "|---" * 11 + "|"
    csv_lines = comparison.to_csv(rows).splitlines()
    assert csv_lines[0].startswith("strategy,seeds,base,final_mean") and len(csv_lines) == 3
    png = comparison.plot(RUNS, tmp_path / "accuracy.png")
    from PIL import Image

    with Image.open(png) as image:
        colours = image.convert("L").getextrema()
    assert image.size[0] > 800 and colours[0] < 100 < colours[1]  # drawn, not blank


def test_intervals_left_unevaluated_count_in_cost_but_not_in_accuracy(tmp_path):
    """Members run with `evaluation.every` have intervals without accuracy: best-of and the plot
    take the evaluated ones, the compute seconds all of them."""
    skipped = {k: v for k, v in interval(0.0).items() if k != "accuracy"}
    runs = {key: [skipped, last] for key, (_, last) in RUNS.items()}
    edco = {r["strategy"]: r for r in comparison.summarize(runs)}["edco"]
    assert edco["best_mean"] == edco["final_mean"] == pytest.approx(0.5)  # 0.50, 0.45, 0.55: the last intervals
    assert edco["training_seconds"] == 36.0
    png = comparison.plot(runs, tmp_path / "accuracy.png")
    assert png.stat().st_size > 0


@pytest.fixture(scope="module")
def compared(tiny_model_dir, prefect_api, tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    base = parse_config(tiny_config(tiny_model_dir, root, run_name="cmp", **{"curriculum.intervals": 1}))
    return base, run_comparison(base, ["edco", "random"], [0, 1])


def test_comparison_writes_its_report_and_nests_member_runs_under_one_parent(compared):
    from mlflow.tracking import MlflowClient

    from edco.tracking.mlflow_runs import tracking_uri

    base, folder = compared
    assert folder == comparison_dir(base)
    assert {p.name for p in folder.iterdir()} >= {"comparison.md", "comparison.csv", "curves.png", "comparison.json"}
    client = MlflowClient(tracking_uri(base))
    runs = client.search_runs([client.get_experiment_by_name("edco").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("edco.comparison") == "cmp"]
    children = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert children == {"cmp-edco-s0", "cmp-edco-s1", "cmp-random-s0", "cmp-random-s1"}
    assert parent.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"comparison.md", "curves.png"}
    assert len(list((folder.parent.parent / ".shared" / "base_eval").glob("*.json"))) == 1  # measured once, shared
    bases = {RunStore(folder.parent.parent / name).metrics(0)["base_accuracy"] for name in children}
    assert len(bases) == 1


def test_the_report_pairs_the_members_items_and_plan_reads_them(compared, tmp_path, capsys):
    """The flow's report is built from the members' stored items (the bootstrap row, verdicts),
    and `edco compare --plan` reads the same finished members, running nothing."""
    from edco.cli.app import main
    from edco.flows.compare import member_items

    base, folder = compared
    report = (folder / "comparison.md").read_text()
    root = folder.parent.parent
    d = [
        member_items(RunStore(root / f"cmp-{s}-s{seed}")).column("metric_value").to_pylist()
        for seed in (0, 1)
        for s in ("edco", "random")
    ]
    mean = sum(a - b for e, r in ((d[0], d[1]), (d[2], d[3])) for a, b in zip(e, r)) / (2 * len(d[0]))
    assert "| edco | 2 | " in report and f"{mean:+.3f} [" in report
    assert "bootstrap over items and seeds" in report and "Verdicts:" in report and "- edco vs random: " in report
    assert report.endswith(f"Every member's stages ran on {describe(environment())}.\n")
    config = tmp_path / "cmp.yaml"
    config.write_text(base.to_yaml())
    before = len(RunStore(root / "cmp-edco-s0").stage_log())
    assert main(["compare", str(config), "--seeds", "0,1", "--plan", "--effect", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "effect to detect: 10.0 points" in out and "edco vs random: pilot of 2 seed(s) x 12 eval items" in out
    assert len(RunStore(root / "cmp-edco-s0").stage_log()) == before, "--plan runs nothing"
    assert main(["compare", str(config), "--seeds", "0,1,2", "--plan"]) == 2
    assert "not finished" in capsys.readouterr().err


def test_a_second_compare_reuses_finished_members(compared):
    base, folder = compared
    stores = [RunStore(folder.parent.parent / name) for name in ("cmp-edco-s0", "cmp-random-s1")]
    before = [len(s.stage_log()) for s in stores]
    report = (folder / "comparison.md").read_text()
    run_comparison(base, ["edco", "random"], [0, 1])
    assert [len([e for e in s.stage_log() if e["event"] == "started"]) for s in stores] == [
        len([e for e in s.stage_log()[:n] if e["event"] == "started"]) for s, n in zip(stores, before)
    ]
    assert (folder / "comparison.md").read_text() == report


def test_a_crashed_comparison_resumes_where_it_stopped(tiny_model_dir, prefect_api, tmp_path, monkeypatch):
    base = parse_config(tiny_config(tiny_model_dir, tmp_path, run_name="cmp", **{"curriculum.intervals": 1}))
    monkeypatch.setenv("EDCO_FAIL_AT", "evaluate.start@0")  # fails every retry: the first member stops there
    with pytest.raises(InjectedFault):
        run_comparison(base, ["random", "edco"], [3])
    first = RunStore(tmp_path / "cmp-random-s3")
    assert first.interval_problem(0) == "not finished" and not (tmp_path / "cmp-edco-s3").exists()
    monkeypatch.delenv("EDCO_FAIL_AT")
    folder = run_comparison(base, ["random", "edco"], [3])
    started = [(e["interval"], e["stage"]) for e in first.stage_log() if e["event"] == "started"]
    assert started.count((0, "train")) == 1  # the member resumed at its evaluate stage
    assert "| edco | 1 |" in (folder / "comparison.md").read_text()


def nll_interval(nll: float, base: float = 2.0) -> dict:
    free = {k: v for k, v in interval(0.0).items() if not k.endswith("accuracy")}
    return {**free, "metric": "reference_nll", "reference_nll": nll, "base_reference_nll": base}


def test_a_free_form_comparison_reads_its_metric_the_way_it_improves(tmp_path):
    runs = {
        ("edco", 0): [nll_interval(1.5), nll_interval(1.6)],
        ("random", 0): [nll_interval(1.8), nll_interval(1.7)],
    }
    edco, random = comparison.summarize(runs)
    assert (edco["metric"], edco["final_mean"], edco["best_mean"], edco["base"]) == ("reference_nll", 1.6, 1.5, 2.0)
    assert random["best_mean"] == 1.7, "lower is better: the best interval is the lowest NLL"
    assert edco["vs_baseline"] == pytest.approx(0.1), "an NLL 0.1 below random's is 0.1 better"
    hours = (2 * (10.5 + 18.0 + 5.0)) / 3600
    assert edco["gain_per_compute_hour"] == pytest.approx((2.0 - 1.6) / hours), "a falling NLL is a gain"
    markdown = comparison.to_markdown([edco, random])
    assert "| strategy | seeds | final reference_nll | best reference_nll |" in markdown
    assert "reference_nll: lower is better" in markdown
    comparison.plot(runs, tmp_path / "accuracy.png")


def test_a_free_form_comparison_runs_and_reports_its_metric(tiny_model_dir, prefect_api, tmp_path):
    overrides = {"curriculum.intervals": 1, "data.kind": "chat", "data.limit": 16, "evaluation.max_new_tokens": 0}
    base = parse_config(tiny_config(tiny_model_dir, tmp_path, run_name="free", **overrides))
    folder = run_comparison(base, ["edco", "random"], [0])
    report = (folder / "comparison.md").read_text()
    assert "final reference_nll" in report and "reference_nll: lower is better" in report
    finals = {s: RunStore(tmp_path / f"free-{s}-s0").metrics(0)["reference_nll"] for s in ("edco", "random")}
    assert f"| edco | 1 | {finals['edco']:.3f} ± 0.000 |" in report
    assert f"{finals['random'] - finals['edco']:+.3f}" in report, "vs random: how much lower (better) edco's NLL is"
