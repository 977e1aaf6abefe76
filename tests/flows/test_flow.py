"""The whole curriculum on a tiny model: real Prefect API, MLflow SQLite store and DuckDB."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import torch

from edco.config.schema import parse_config
from edco.faultpoints import InjectedFault
from edco.flows.curriculum import run_curriculum
from edco.models.environment import describe, environment
from edco.models.loading import load_model, load_tokenizer
from edco.storage.sql import query
from edco.storage.store import RunStore
from edco.tracking.mlflow_runs import MlflowTracker, run_summary
from edco.training.trainers import train
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def finished_run(finished_tiny):
    return finished_tiny


def test_every_interval_writes_scores_checkpoint_metrics_and_manifest(finished_run):
    cfg, store, metrics = finished_run
    assert [m["interval"] for m in metrics] == [0, 1]
    for interval in range(2):
        scores = pq.read_table(store.stage_path(interval, "select"))
        assert len(scores) == 24
        assert set(scores.column_names) >= {
            "run",
            "interval",
            "sample_id",
            "score",
            "signal",
            "n_tokens",
            "rank",
            "selected",
        }
        assert sum(scores["selected"].to_pylist()) == 8
        selected = scores.filter(scores["selected"])
        rest = scores.filter(pc.invert(scores["selected"]))
        assert min(selected["score"].to_pylist()) >= max(rest["score"].to_pylist())
        assert store.interval_problem(interval) is None
        manifest = json.loads((store.interval_dir(interval) / "manifest.json").read_text())["files"]
        on_disk = {
            str(p.relative_to(store.interval_dir(interval)))
            for p in store.interval_dir(interval).rglob("*")
            if p.is_file()
        }
        assert set(manifest) == on_disk - {"manifest.json"}  # the manifest covers every file the stages wrote
        assert {"checkpoint/model.safetensors", "checkpoint/config.json", "train_stats.json"} <= set(manifest)
    assert (store.run_dir / "config.yaml").exists() and store.info()["config_hash"] == cfg.identity_hash()


def test_eval_items_hold_every_item_of_every_evaluated_interval_and_the_base_model(finished_run):
    """The per-item results add up to the metrics they came with: their accuracy is the interval's
    (and the base model's), each gold probability lies in (0, 1], and a correct item's gold option
    had the highest probability of its options (so at least 1/len(options))."""
    cfg, store, metrics = finished_run
    root = store.run_dir.parent
    counts = query(
        root, "SELECT model, interval, count(*) AS n, avg(correct::INT) AS acc FROM eval_items GROUP BY ALL ORDER BY 2"
    ).to_pylist()
    assert counts == [
        {"model": "trained", "interval": 0, "n": 12, "acc": pytest.approx(metrics[0]["accuracy"])},
        {"model": "trained", "interval": 1, "n": 12, "acc": pytest.approx(metrics[1]["accuracy"])},
        {"model": "base", "interval": None, "n": 12, "acc": pytest.approx(metrics[0]["base_accuracy"])},
    ]
    items = store.eval_items(1).to_pylist()
    eval_set = store.eval_set()
    assert [i["item_id"] for i in items] == eval_set["id"].to_pylist()
    assert [i["category"] for i in items] == eval_set["category"].to_pylist()
    assert all(0 < i["value"] <= 1 and i["metric"] == "accuracy" for i in items)
    assert all(i["value"] >= 1 / len(c) for i, c in zip(items, eval_set["choices"].to_pylist()) if i["correct"])
    assert [i["metric_value"] for i in items] == [float(i["correct"]) for i in items]
    assert "eval_items.parquet" in store.manifest(1)["files"]


def test_every_started_stage_records_the_environment_it_ran_in(finished_run):
    """The `stages` view is the audit trail: each stage's started and finished lines, the started
    ones with this process's machine and library versions (the run ran here)."""
    _, store, _ = finished_run
    rows = query(
        store.run_dir.parent,
        "SELECT interval, stage, event, environment->>'torch' AS torch, environment->>'cpu' AS cpu FROM stages "
        "WHERE run = ? ORDER BY time",
        [store.name],
    ).to_pylist()
    assert [(r["interval"], r["stage"], r["event"]) for r in rows] == [
        (e["interval"], e["stage"], e["event"]) for e in store.stage_log()
    ]
    started = [r for r in rows if r["event"] == "started"]
    assert {(r["interval"], r["stage"]) for r in started} == {
        (i, s) for i in range(2) for s in ("score", "select", "train", "evaluate")
    }
    assert {(r["torch"], r["cpu"]) for r in started} == {(torch.__version__, environment()["cpu"])}
    assert store.environments() == [environment()]


def test_checkpoints_load_with_plain_from_pretrained(finished_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from edco.models.loading import load_model

    cfg, store, _ = finished_run
    folder = store.checkpoint_dir(1)
    plain, tokenizer = AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    ours = load_model(cfg.model, folder)
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in ours.state_dict().items())
    assert not list(folder.glob("*.bin")) and tokenizer.eos_token == "<|im_end|>"


def test_stage_seconds_in_metrics_match_the_audit_trail(finished_run):
    _, store, metrics = finished_run
    logged = {(e["interval"], e["stage"]): e["seconds"] for e in store.stage_log() if e["event"] == "finished"}
    for m in metrics:
        for stage in ("score", "select", "train"):
            # the same clock, read twice: the audit trail's reading comes after the output's fsync,
            # which takes tens of milliseconds on a loaded machine
            assert m[f"{stage}_seconds"] == pytest.approx(logged[(m["interval"], stage)], rel=0.05, abs=0.05)


def test_model_io_is_timed_apart_inside_each_stage(finished_run):
    """Loading the model and writing the checkpoint are part of a stage's seconds and counted
    apart; selection touches no model. The overhead benchmark takes them out of the compute."""
    from benchmarks.overhead import interval_rows

    _, store, metrics = finished_run
    for m, row in zip(metrics, interval_rows(store)):
        for stage in ("score", "train", "evaluate"):
            assert 0 < m[f"{stage}_model_io_seconds"] < m[f"{stage}_seconds"]
        assert m["select_model_io_seconds"] == 0.0
        io = sum(m[f"{s}_model_io_seconds"] for s in ("score", "select", "train", "evaluate"))
        assert row["model_io"] == pytest.approx(io)
        assert row["training"] == pytest.approx(
            m["train_seconds"] - m["train_model_io_seconds"] - m["diagnostics_seconds"]
        )


def test_replaying_a_train_stage_repeats_its_training(finished_run):
    """`benchmarks/train_precision.py` replays stages through `train`; in the run's own
    precision, from the interval's starting model and selection, it must redo the stage's training."""
    cfg, store, _ = finished_run
    model = load_model(cfg.model, store.model_checkpoint(1), training=True)
    replayed = train(model, load_tokenizer(cfg.model), store.selected_records(1), cfg, 1).to_json()
    assert replayed == {key: store.train_stats(1)[key] for key in replayed}  # steps, summary, history, sample_gain


def test_duckdb_views_match_the_parquet_files(finished_run):
    _, store, metrics = finished_run
    root = store.run_dir.parent
    counts = query(
        root, "SELECT interval, count(*) AS n, sum(selected::INT) AS s FROM scores GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert counts == [{"interval": 0, "n": 24, "s": 8}, {"interval": 1, "n": 24, "s": 8}]
    acc = query(root, "SELECT interval, accuracy FROM metrics ORDER BY interval").to_pylist()
    assert acc == [{"interval": m["interval"], "accuracy": m["accuracy"]} for m in metrics]
    selected = [{r["sample_id"] for r in store.read_table(i, "select").to_pylist() if r["selected"]} for i in range(2)]
    turnover = query(root, "SELECT * FROM turnover ORDER BY interval").to_pylist()
    assert turnover[0] == {"run": "tiny", "interval": 0, "selected": 8, "new": 8, "retained": 0, "returned": 0}
    retained = len(selected[0] & selected[1])
    assert turnover[1] == {
        "run": "tiny",
        "interval": 1,
        "selected": 8,
        "new": 8 - retained,
        "retained": retained,
        "returned": 0,
    }


def test_mlflow_run_has_one_step_per_interval(finished_run):
    cfg, store, metrics = finished_run
    tracker = MlflowTracker(store)
    assert tracker.metric_history("accuracy") == [(m["interval"], m["accuracy"]) for m in metrics]
    run = run_summary(tracker)
    assert run["status"] == "FINISHED" and run["tags"]["edco.final_interval"] == "1"
    assert run["tags"]["edco.environment"] == describe(environment())  # this process ran it, in one environment
    assert run["params"]["scoring.mode"] == "prefix" and run["params"]["training.method"] == "sft"
    artifacts = {a.path for a in tracker.client.list_artifacts(tracker.run_id)}
    assert {"interval_000", "interval_001", "final_checkpoint"} <= artifacts
    plots = {a.path for a in tracker.client.list_artifacts(tracker.run_id, "interval_001")}
    assert plots == {
        f"interval_001/{name}"
        for name in ("scores.parquet", "score_info.json", "signal_histogram.png", "accuracy_signal.png", "turnover.png")
    }
    final = {a.path for a in tracker.client.list_artifacts(tracker.run_id, "final_checkpoint")}
    assert "final_checkpoint/model.safetensors" in final


def test_trainer_steps_form_one_curve_across_intervals(finished_run):
    _, store, metrics = finished_run
    tracker = MlflowTracker(store)
    steps = [store.train_stats(i)["history"] for i in range(2)]
    expected = [(n + 1, entry["loss"]) for n, entry in enumerate(steps[0] + steps[1])]
    assert tracker.metric_history("train/loss") == expected  # steps keep counting: 1, 2 | 3, 4
    assert [step for step, _ in tracker.metric_history("train/learning_rate")] == [1, 2, 3, 4]
    assert metrics[1]["train_steps"] == 2 and metrics[1]["train_loss"] == pytest.approx(
        sum(e["loss"] for e in steps[1]) / 2
    )


def test_resume_after_failure_in_last_interval_gives_equal_tables(
    tiny_model_dir, prefect_api, tmp_path, monkeypatch, finished_run
):
    _, reference, ref_metrics = finished_run
    cfg = parse_config(tiny_config(tiny_model_dir, tmp_path))
    monkeypatch.setenv("EDCO_FAIL_AT", "train.mid@1")
    with pytest.raises(InjectedFault):
        run_curriculum(cfg)
    store = RunStore(tmp_path / "tiny")
    assert store.interval_problem(0) is None and store.interval_problem(1) == "not finished"
    tracker = MlflowTracker(store)
    (failed,) = tracker.client.search_runs([tracker.client.get_experiment_by_name("edco").experiment_id])
    assert failed.info.status == "FAILED"
    monkeypatch.delenv("EDCO_FAIL_AT")
    _, metrics = run_curriculum(cfg)
    assert tracker.client.get_run(failed.info.run_id).info.status == "FINISHED"  # the same MLflow run, resumed
    for interval in range(2):
        assert pq.read_table(store.stage_path(interval, "select")).equals(
            pq.read_table(reference.stage_path(interval, "select"))
        )
    strip = lambda m: {k: v for k, v in m.items() if not k.endswith("_seconds")}  # noqa: E731
    assert [strip(m) for m in metrics] == [strip(m) for m in ref_metrics]
    started = [(e["interval"], e["stage"]) for e in store.stage_log() if e["event"] == "started"]
    assert started.count((0, "score")) == 1 and started.count((0, "train")) == 1  # interval 0 never recomputed
    assert started.count((1, "score")) == 1  # the score stage of interval 1 finished before the fault
    assert json.loads((store.interval_dir(1) / "manifest.json").read_text())["interval"] == 1


def test_lora_run_checkpoints_only_the_adapters(tiny_model_dir, prefect_api, tmp_path):
    from safetensors.torch import load_file

    cfg = parse_config(tiny_config(tiny_model_dir, tmp_path, **{"model.lora": {"r": 2, "alpha": 4}}))
    store, metrics = run_curriculum(cfg)
    for interval in range(2):
        weights = load_file(str(store.checkpoint_dir(interval) / "adapter_model.safetensors"))
        assert weights and all("lora_" in key for key in weights)
    assert json.loads((store.checkpoint_dir(1) / "adapter_config.json").read_text())["r"] == 2
    assert 0.0 <= metrics[1]["accuracy"] <= 1.0


@pytest.mark.parametrize("keep, kept", [("last", [2]), ("best", "best+last")])
def test_keep_checkpoints_prunes_finished_intervals(tiny_model_dir, prefect_api, tmp_path, keep, kept):
    data = tiny_config(tiny_model_dir, tmp_path, **{"curriculum.intervals": 3})
    data["storage"]["keep_checkpoints"] = keep
    store, metrics = run_curriculum(parse_config(data))
    if kept == "best+last":
        accuracies = [m["accuracy"] for m in metrics]
        kept = sorted({accuracies.index(max(accuracies)), 2})
    assert [i for i in range(3) if store.checkpoint_dir(i).exists()] == kept
    for interval in range(3):
        assert store.interval_problem(interval) is None  # a pruned checkpoint is not a damaged interval
        assert store.checkpoint_pruned(interval) == (interval not in kept)
        assert (store.interval_dir(interval) / "train_stats.json").exists()


def test_evaluation_every_k_skips_the_intervals_between_and_changes_nothing_else(
    tiny_model_dir, prefect_api, tmp_path, finished_run
):
    """`evaluation.every: 2` over 2 intervals evaluates only the last: interval 0 records no
    accuracy (NULL in SQL, nothing in MLflow), keep_checkpoints 'best' chooses among evaluated
    intervals, and the training trajectory is the every-interval run's to the bit."""
    from edco.storage.catalog import list_runs

    data = tiny_config(tiny_model_dir, tmp_path, **{"evaluation.every": 2})
    data["storage"]["keep_checkpoints"] = "best"
    store, metrics = run_curriculum(parse_config(data))
    _, reference_store, reference = finished_run
    assert ["accuracy" in m for m in metrics] == [False, True]
    assert (metrics[0]["evaluate_tokens"], metrics[1]["evaluate_tokens"]) == (0, reference[1]["evaluate_tokens"])
    same = ("accuracy", "base_accuracy", "train_loss", "selected_signal_mean", "pool_signal_mean", "predicted_letters")
    assert {k: metrics[1][k] for k in same} == {k: reference[1][k] for k in same}
    assert metrics[0]["base_accuracy"] == reference[0]["base_accuracy"]  # the base model is still measured, once
    for interval in range(2):
        ours, theirs = store.read_table(interval, "select"), reference_store.read_table(interval, "select")
        assert ours.drop_columns(["run"]).equals(theirs.drop_columns(["run"]))
    assert query(tmp_path, "SELECT interval, accuracy FROM metrics ORDER BY 1").to_pylist() == [
        {"interval": 0, "accuracy": None},
        {"interval": 1, "accuracy": metrics[1]["accuracy"]},
    ]
    assert MlflowTracker(store).metric_history("accuracy") == [(1, metrics[1]["accuracy"])]
    assert query(
        tmp_path, "SELECT model, interval, count(*) AS n FROM eval_items GROUP BY ALL ORDER BY 1"
    ).to_pylist() == [
        {"model": "base", "interval": None, "n": 12},
        {"model": "trained", "interval": 1, "n": 12},
    ], "an interval left unevaluated has no trained items"
    assert [i for i in range(2) if store.checkpoint_dir(i).exists()] == [1]
    assert (list_runs(tmp_path)[0].metric, list_runs(tmp_path)[0].best) == ("accuracy", metrics[1]["accuracy"])


def test_damaged_interval_after_pruning_goes_back_to_a_checkpoint_that_exists(
    tiny_model_dir, prefect_api, tmp_path, caplog
):
    data = tiny_config(tiny_model_dir, tmp_path, **{"curriculum.intervals": 3})
    data["storage"]["keep_checkpoints"] = "last"
    store, first = run_curriculum(parse_config(data))
    (store.checkpoint_dir(2) / "model.safetensors").write_bytes(b"damaged")
    _, again = run_curriculum(parse_config(data))
    assert "resuming from interval 0" in caplog.text and "was pruned" in caplog.text
    strip = lambda m: {k: v for k, v in m.items() if not k.endswith("_seconds")}  # noqa: E731
    assert [strip(m) for m in again] == [strip(m) for m in first]  # recomputed from the base model, same results


def test_whole_flow_in_bf16_on_the_cpu(tiny_model_dir, prefect_api, tmp_path):
    from safetensors import safe_open

    cfg = parse_config(tiny_config(tiny_model_dir, tmp_path, **{"model.device": "cpu", "model.dtype": "bfloat16"}))
    store, metrics = run_curriculum(cfg)
    with safe_open(str(store.checkpoint_dir(1) / "model.safetensors"), "pt") as fh:
        assert {fh.get_slice(k).get_dtype() for k in fh.keys()} == {"BF16"}
    assert all(0.0 <= m["accuracy"] <= 1.0 for m in metrics)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_whole_flow_on_cuda_in_bf16(tiny_model_dir, prefect_api, tmp_path):
    cfg = parse_config(tiny_config(tiny_model_dir, tmp_path, **{"model.device": "cuda", "model.dtype": "auto"}))
    store, metrics = run_curriculum(cfg)
    from edco.models.loading import load_model

    assert load_model(cfg.model, store.checkpoint_dir(1)).dtype == torch.bfloat16
    assert len(metrics) == 2 and store.interval_problem(1) is None


def test_skip_invalid_quarantines_bad_rows_in_the_run_folder(tiny_model_dir, prefect_api, tmp_path):
    rows = [
        {"id": f"p{i}", "question": f"Fan tray {i} failed.", "choices": ["fan", "link"], "answer": i % 2}
        for i in range(6)
    ]
    rows.insert(2, {"id": "bad", "question": "No choices here", "choices": ["only one"], "answer": 0})
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = tiny_config(tiny_model_dir, tmp_path / "store", **{"curriculum.intervals": 1, "selection.top_n": 2})
    data["data"] = {"pool": str(pool), "eval": "demo", "eval_limit": 4, "skip_invalid": True}
    store, _ = run_curriculum(parse_config(data))
    quarantined = [json.loads(line) for line in (store.run_dir / "quarantine.jsonl").read_text().splitlines()]
    assert [(q["file"], q["row"], q["field"]) for q in quarantined] == [(str(pool), 3, "choices")]
    assert len(store.pool()) == 6 and "bad" not in store.pool()["id"].to_pylist()


def test_grpo_curriculum_logs_reward_diagnostics_per_interval_and_per_step(tiny_model_dir, prefect_api, tmp_path):
    grpo = {"num_generations": 2, "iterations": 2, "max_completion_length": 4}
    cfg = parse_config(
        tiny_config(
            tiny_model_dir, tmp_path, **{"training.method": "grpo", "training.batch_size": 2, "training.grpo": grpo}
        )
    )
    store, metrics = run_curriculum(cfg)
    for m in metrics:
        assert {
            "reward_mean",
            "reward_std",
            "frac_reward_zero_std",
            "completion_length",
            "kl",
            "grad_norm",
            "no_answer_frac",
        } <= set(m)
        assert m["train_steps"] == 2
    tracker = MlflowTracker(store)
    assert [step for step, _ in tracker.metric_history("reward_mean")] == [0, 1]
    assert [step for step, _ in tracker.metric_history("train/reward")] == [1, 2, 3, 4]
    assert (store.checkpoint_dir(1) / "model.safetensors").exists()


def test_sec_bandit_state_is_a_checksummed_interval_output_restored_on_resume(
    tiny_model_dir, prefect_api, tmp_path, monkeypatch
):
    def config(root):
        return parse_config(
            tiny_config(tiny_model_dir, root, **{"selection.strategy": "sec", "curriculum.intervals": 3})
        )

    reference, _ = run_curriculum(config(tmp_path / "reference"))
    states = [reference.selection_state(i) for i in range(3)]
    assert [sum(s["draws"].values()) for s in states] == [8, 16, 24]
    assert states[0]["q"] == {} and states[1]["q"] and states[1]["q"] != states[2]["q"]  # learnt from the gains
    assert "selection_state.json" in json.loads((reference.interval_dir(1) / "manifest.json").read_text())["files"]
    monkeypatch.setenv("EDCO_FAIL_AT", "select.start@2")
    with pytest.raises(InjectedFault):
        run_curriculum(config(tmp_path / "crashed"))
    monkeypatch.delenv("EDCO_FAIL_AT")
    resumed, _ = run_curriculum(config(tmp_path / "crashed"))  # a fresh process would read the same files
    assert [resumed.selection_state(i) for i in range(3)] == states
    for i in range(3):
        assert resumed.read_table(i, "select").equals(reference.read_table(i, "select"))
