"""Free-form curricula end to end on the tiny model: reference and chat records, SFT and GRPO, the
judge behind a real HTTP server, and the headline metric in every place a run is read."""

from __future__ import annotations

import pytest

from edco.cli import main
from edco.config.schema import parse_config
from edco.flows.curriculum import run_curriculum
from edco.storage.catalog import list_runs
from edco.storage.sql import query
from edco.tracking.mlflow_runs import MlflowTracker
from tests.helpers import JudgeServer, tiny_config

FREE = {"data.kind": "reference", "data.limit": 16, "data.eval_limit": 6, "evaluation.max_new_tokens": 8}
GRPO = {
    "training.method": "grpo",
    "training.batch_size": 2,
    "training.lr": 1e-4,
    "training.grpo": {"num_generations": 2, "iterations": 2, "max_completion_length": 6},
}


@pytest.fixture(scope="module")
def judge(tmp_path_factory):
    with JudgeServer(tmp_path_factory.mktemp("judge") / "asked.jsonl") as server:
        yield server


@pytest.fixture(scope="module")
def judged_run(tiny_model_dir, prefect_api, judge, tmp_path_factory):
    root = tmp_path_factory.mktemp("free")
    data = tiny_config(tiny_model_dir, root, **FREE, judge={"base_url": judge.base_url, "model": "judge-test"})
    return run_curriculum(parse_config(data))


def test_a_reference_run_records_its_free_form_metrics_and_the_base_models(judged_run):
    store, metrics = judged_run
    for m in metrics:
        assert m["metric"] == "reference_nll"
        for key in ("reference_nll", "exact_match", "token_f1", "rouge_l", "judge_accuracy", "judge_unparsed"):
            assert m[key] is not None and m[f"base_{key}"] is not None, key
        assert "accuracy" not in m and "predicted_letters" not in m
        assert 0 <= m["rouge_l"] <= 1 and m["reference_nll"] > 0
    assert metrics[1]["base_reference_nll"] == metrics[0]["base_reference_nll"]
    assert metrics[1]["reference_nll"] < metrics[1]["base_reference_nll"], "SFT on references lowers their NLL"
    assert MlflowTracker(store).metric_history("reference_nll") == [
        (i, m["reference_nll"]) for i, m in enumerate(metrics)
    ]


def test_each_judged_answer_is_asked_once_and_is_in_sql(judged_run, judge):
    store, metrics = judged_run
    asked = judge.asked()
    assert len(asked) == len(set(asked)), "a question was asked twice"
    root = store.run_dir.parent
    rows = query(root, "SELECT run, interval, accepted, reply, model FROM judge_verdicts").to_pylist()
    assert len(rows) == len(asked)
    assert {r["run"] for r in rows} == {"tiny"} and {r["model"] for r in rows} == {"judge-test"}
    evaluated = query(root, "SELECT interval, count(*) AS n FROM judge_verdicts GROUP BY 1 ORDER BY 1").to_pylist()
    assert [r["interval"] for r in evaluated] == [0, 1] and all(r["n"] <= 2 * 6 for r in evaluated)
    parsed = [r["accepted"] for r in rows if r["accepted"] is not None]
    assert len(rows) - len(parsed) == 0 and metrics[0]["judge_unparsed"] == 0, "the server only says yes or no"


def test_the_tables_say_which_metric_and_which_way_is_better(judged_run, capsys):
    store, metrics = judged_run
    root = str(store.run_dir.parent)
    assert main(["show", "tiny", "--root", root]) == 0
    assert "headline: reference_nll (lower is better)" in capsys.readouterr().out
    from edco.cli.query import run_table

    headers = [column.header for column in run_table(store.run_dir.parent, "tiny").columns]
    assert {"reference NLL", "base NLL", "ROUGE-L", "token F1", "judge yes"} <= set(headers)
    assert not {"accuracy", "base", "top answer share"} & set(headers), "no column without a value"
    (entry,) = list_runs(store.run_dir.parent)
    assert (entry.metric, entry.best) == ("reference_nll", min(m["reference_nll"] for m in metrics))
    assert main(["report", "tiny", "--root", root]) == 0
    page = (store.run_dir / "report" / "report.html").read_text()
    assert "reference_nll (lower is better)" in page


@pytest.mark.parametrize("method", ["sft", "grpo"])
def test_a_chat_run_trains_on_the_last_assistant_turn(tiny_model_dir, prefect_api, tmp_path, method):
    overrides = {**FREE, "data.kind": "chat", "curriculum.intervals": 1, **(GRPO if method == "grpo" else {})}
    store, (metrics,) = run_curriculum(parse_config(tiny_config(tiny_model_dir, tmp_path, **overrides)))
    assert metrics["metric"] == "reference_nll" and "rouge_l" in metrics and "judge_accuracy" not in metrics
    if method == "grpo":
        assert store.train_stats(0)["steps"] == 2 and "reward_mean" in metrics
        assert [e for e in store.train_stats(0)["history"] if "reward" in e], "the overlap reward was logged"


def test_grpo_with_the_judge_as_reward_caches_every_verdict(tiny_model_dir, prefect_api, tmp_path, judge):
    before = len(judge.asked())
    overrides = {**FREE, **GRPO, "curriculum.intervals": 1, "evaluation.max_new_tokens": 0}
    data = tiny_config(tiny_model_dir, tmp_path, **overrides, judge={"base_url": judge.base_url, "model": "judge-2"})
    data["training"]["reward"] = "judge"
    store, (metrics,) = run_curriculum(parse_config(data))
    asked = judge.asked()[before:]
    assert len(asked) == len(set(asked)) > 0, "each distinct completion is judged once"
    verdicts = query(tmp_path, "SELECT count(*) AS n FROM judge_verdicts WHERE model = 'judge-2'").to_pylist()
    assert verdicts == [{"n": len(asked)}]
    assert "judge_unparsed_frac" in metrics and "reward_mean" in metrics
    assert "judge_accuracy" not in metrics, "max_new_tokens 0: the evaluation judges nothing"


def test_a_moved_judge_endpoint_continues_the_run_and_a_new_rubric_does_not(tiny_model_dir, tmp_path):
    from edco.errors import ConfigError
    from edco.flows.curriculum import create_or_check

    def config(**judge: object):
        judge = {"base_url": "http://127.0.0.1:1/v1", "model": "judge-test", **judge}
        return parse_config(tiny_config(tiny_model_dir, tmp_path, **FREE, judge=judge))

    store = create_or_check(config())
    moved = create_or_check(config(base_url="http://127.0.0.1:2/v1", concurrency=8, api_key_env="KEY"))
    assert moved.config().judge.base_url == "http://127.0.0.1:2/v1", "the run goes on with the endpoint it is given"
    assert moved.config().identity_hash() == store.info()["config_hash"]
    with pytest.raises(ConfigError, match="judge.rubric"):
        create_or_check(config(rubric="Is {answer} right? yes or no"))
    forced = config(rubric="Is {answer} right? yes or no")
    with pytest.raises(ConfigError, match="evaluation.metric 'accuracy' does not apply to reference records"):
        create_or_check(parse_config({**forced.model_dump(mode="json"), "evaluation": {"metric": "accuracy"}}), True)


def test_a_rubric_with_an_unknown_placeholder_is_refused():
    from edco.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'judge.rubric': must use only \{question\}, \{answer\} and \{reference\}"):
        parse_config({"run_name": "x", "judge": {"base_url": "u", "model": "m", "rubric": "{answer} vs {gold}"}})
