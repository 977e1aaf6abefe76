"""A curriculum scored by vLLM (`scoring.engine: vllm`) end to end, through the real Prefect API and
MLflow: only in `make vllm-env`'s environment (`make vllm-test`); skipped elsewhere, CI included."""

from __future__ import annotations

import pytest

from edco.config.schema import parse_config
from edco.flows.curriculum import run_curriculum
from tests.helpers import tiny_config

pytest.importorskip("vllm")

ON_VLLM = {
    "model.dtype": "float32",
    "model.device": "cpu",
    "data.limit": 8,
    "data.eval_limit": 4,
    "scoring.engine": "vllm",
    "scoring.prefix_tokens": 8,
    "scoring.top_logprobs": 20,
    "scoring.vllm_kv_cache_gib": 1,
    "selection.top_n": 4,
    "curriculum.intervals": 2,
}


@pytest.mark.slow
def test_a_curriculum_scored_on_vllm_runs_and_scores_the_base_model_as_hf_does(prefect_api, tmp_path):
    """Two intervals on the default model: interval 0's greedy top-20 entropies (the base model)
    equal HF's on the same pool to 1e-5 nats; interval 1 is scored from the trained checkpoint; the
    run is evaluated after each interval."""
    from edco.models.loading import load_model, load_tokenizer
    from edco.scoring.entropy import score_table

    cfg = parse_config(tiny_config("smollm2-135m-instruct", tmp_path / "store", **ON_VLLM))
    store, metrics = run_curriculum(cfg)
    scored = store.read_table(0, "score")
    hf = score_table(load_model(cfg.model), load_tokenizer(cfg.model), store.pool(), cfg.scoring, seed=0)
    assert scored["sample_id"].to_pylist() == hf["sample_id"].to_pylist()
    assert scored["score"].to_pylist() == pytest.approx(hf["score"].to_pylist(), abs=1e-5)
    before = dict(zip(hf["sample_id"].to_pylist(), hf["score"].to_pylist()))
    later = store.read_table(1, "score")
    again = [before[i] for i in later["sample_id"].to_pylist()]
    assert later.num_rows and later["score"].to_pylist() != pytest.approx(again, abs=1e-5), "the base model again"
    assert [m["interval"] for m in metrics] == [0, 1]
