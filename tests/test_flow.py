"""The whole curriculum on a tiny model: real Prefect API, MLflow SQLite store and DuckDB."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from edco.config import parse_config
from edco.faults import InjectedFault
from flows.curriculum import run_curriculum
from storage import tracking
from storage.sql import query
from storage.store import RunStore
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def finished_run(tiny_model_dir, prefect_api, tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    cfg = parse_config(tiny_config(tiny_model_dir, root))
    store, metrics = run_curriculum(cfg)
    return cfg, store, metrics


def test_every_interval_writes_scores_checkpoint_metrics_and_manifest(finished_run):
    cfg, store, metrics = finished_run
    assert [m["interval"] for m in metrics] == [0, 1]
    for interval in range(2):
        scores = pq.read_table(store.stage_path(interval, "select"))
        assert len(scores) == 24
        assert set(scores.column_names) >= {"run", "interval", "sample_id", "score", "signal", "n_tokens", "rank", "selected"}
        assert sum(scores["selected"].to_pylist()) == 8
        selected = scores.filter(scores["selected"])
        rest = scores.filter(pc.invert(scores["selected"]))
        assert min(selected["score"].to_pylist()) >= max(rest["score"].to_pylist())
        assert store.interval_problem(interval) is None
        assert (store.interval_dir(interval) / "checkpoint.safetensors").stat().st_size > 0
    assert (store.run_dir / "config.yaml").exists() and store.info()["config_hash"] == cfg.identity_hash()


def test_stage_seconds_in_metrics_match_the_audit_trail(finished_run):
    _, store, metrics = finished_run
    logged = {(e["interval"], e["stage"]): e["seconds"] for e in store.stage_log() if e["event"] == "finished"}
    for m in metrics:
        for stage in ("score", "select", "train"):
            assert m[f"{stage}_seconds"] == pytest.approx(logged[(m["interval"], stage)], abs=0.05)


def test_duckdb_views_match_the_parquet_files(finished_run):
    _, store, metrics = finished_run
    root = store.run_dir.parent
    counts = query(root, "SELECT interval, count(*) AS n, sum(selected::INT) AS s FROM scores GROUP BY 1 ORDER BY 1").to_pylist()
    assert counts == [{"interval": 0, "n": 24, "s": 8}, {"interval": 1, "n": 24, "s": 8}]
    acc = query(root, "SELECT interval, accuracy FROM metrics ORDER BY interval").to_pylist()
    assert acc == [{"interval": m["interval"], "accuracy": m["accuracy"]} for m in metrics]
    selected = [{r["sample_id"] for r in store.read_table(i, "select").to_pylist() if r["selected"]} for i in range(2)]
    turnover = query(root, "SELECT * FROM turnover ORDER BY interval").to_pylist()
    assert turnover[0] == {"run": "tiny", "interval": 0, "selected": 8, "new": 8, "retained": 0, "returned": 0}
    retained = len(selected[0] & selected[1])
    assert turnover[1] == {"run": "tiny", "interval": 1, "selected": 8, "new": 8 - retained, "retained": retained, "returned": 0}


def test_mlflow_run_has_one_step_per_interval(finished_run):
    cfg, store, metrics = finished_run
    run_id = tracking.find_run(store, cfg)
    history = tracking.metric_history(cfg, run_id, "accuracy")
    assert history == [(m["interval"], m["accuracy"]) for m in metrics]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking.tracking_uri(cfg))
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["edco.final_interval"] == "1"
    assert run.data.params["scoring.mode"] == "prefix"
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"interval_000", "interval_001", "final_checkpoint"} <= artifacts


def test_resume_after_failure_in_last_interval_gives_equal_tables(tiny_model_dir, prefect_api, tmp_path, monkeypatch, finished_run):
    _, reference, ref_metrics = finished_run
    cfg = parse_config(tiny_config(tiny_model_dir, tmp_path))
    monkeypatch.setenv("EDCO_FAIL_AT", "train.mid@1")
    with pytest.raises(InjectedFault):
        run_curriculum(cfg)
    store = RunStore(tmp_path / "tiny")
    assert store.interval_problem(0) is None and store.interval_problem(1) == "not finished"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking.tracking_uri(cfg))
    (failed,) = client.search_runs([client.get_experiment_by_name("edco").experiment_id])
    assert failed.info.status == "FAILED"
    monkeypatch.delenv("EDCO_FAIL_AT")
    _, metrics = run_curriculum(cfg)
    assert client.get_run(failed.info.run_id).info.status == "FINISHED"  # the same MLflow run, resumed
    for interval in range(2):
        assert pq.read_table(store.stage_path(interval, "select")).equals(pq.read_table(reference.stage_path(interval, "select")))
    strip = lambda m: {k: v for k, v in m.items() if not k.endswith("_seconds")}  # noqa: E731
    assert [strip(m) for m in metrics] == [strip(m) for m in ref_metrics]
    started = [(e["interval"], e["stage"]) for e in store.stage_log() if e["event"] == "started"]
    assert started.count((0, "score")) == 1 and started.count((0, "train")) == 1  # interval 0 never recomputed
    assert started.count((1, "score")) == 1  # the score stage of interval 1 finished before the fault
    assert json.loads((store.interval_dir(1) / "manifest.json").read_text())["interval"] == 1


def test_lora_run_checkpoints_only_the_adapters(tiny_model_dir, prefect_api, tmp_path):
    from safetensors.torch import load_file

    cfg = parse_config(tiny_config(tiny_model_dir, tmp_path, **{"model.lora": {"r": 2, "alpha": 4}, "curriculum.intervals": 1}))
    store, metrics = run_curriculum(cfg)
    weights = load_file(str(store.stage_path(0, "train")))
    assert weights and all("lora_" in key for key in weights)
    assert 0.0 <= metrics[0]["accuracy"] <= 1.0


def test_skip_invalid_quarantines_bad_rows_in_the_run_folder(tiny_model_dir, prefect_api, tmp_path):
    rows = [{"id": f"p{i}", "question": f"Fan tray {i} failed.", "choices": ["fan", "link"], "answer": i % 2} for i in range(6)]
    rows.insert(2, {"id": "bad", "question": "No choices here", "choices": ["only one"], "answer": 0})
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = tiny_config(tiny_model_dir, tmp_path / "store", **{"curriculum.intervals": 1, "selection.top_n": 2})
    data["data"] = {"pool": str(pool), "eval": "demo", "eval_limit": 4, "skip_invalid": True}
    store, _ = run_curriculum(parse_config(data))
    quarantined = [json.loads(line) for line in (store.run_dir / "quarantine.jsonl").read_text().splitlines()]
    assert [(q["file"], q["row"], q["field"]) for q in quarantined] == [(str(pool), 3, "choices")]
    assert len(store.pool()) == 6 and "bad" not in store.pool()["id"].to_pylist()
