"""`scoring.engine: vllm`: its settings, its top-K reading of vLLM's log-probabilities, and (where
vLLM imports, i.e. in `make vllm-env`'s environment; CI has none) the engine against HF on the
real default model."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from edco.config.schema import ModelConfig, ScoringConfig
from edco.scoring.entropy import token_entropy


@dataclass
class Logprob:  # the two fields of vllm.logprobs.Logprob that the scorer reads
    logprob: float
    rank: int


def test_the_sampled_token_outside_the_top_k_is_dropped():
    from edco.scoring.vllm_scoring import step_entropies

    logits = torch.tensor([3.0, 2.0, 1.0, 0.5, -4.0])
    logp = logits.log_softmax(-1)
    top = {i: Logprob(float(logp[i]), i + 1) for i in range(3)}
    with_sampled = {**top, 4: Logprob(float(logp[4]), 5)}  # sampled, rank 5: vLLM's 21st entry
    got = step_entropies([top, with_sampled], k=3, unit="nats")
    expected = float(token_entropy(logits, top_logprobs=3))
    assert got.tolist() == pytest.approx([expected, expected], abs=1e-12)
    assert step_entropies([top], k=3, unit="bits").item() == pytest.approx(expected / math.log(2))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"engine": "vllm"}, "top-K estimator of prefix mode"),
        ({"engine": "vllm", "mode": "full", "top_logprobs": 20}, "top-K estimator of prefix mode"),
        ({"engine": "vllm", "top_logprobs": 20, "backend": "ray"}, "use backend 'local'"),
    ],
)
def test_engine_vllm_is_refused_where_it_cannot_compute_the_estimator(settings, message):
    with pytest.raises(ValueError, match=message):
        ScoringConfig(**settings)


def test_the_published_preset_runs_on_vllm():
    cfg = ScoringConfig(estimator="published", engine="vllm")
    assert (cfg.mode, cfg.top_logprobs, cfg.temperature, cfg.new_tokens) == ("prefix", 20, 0.7, 128)


def test_without_vllm_the_engine_says_how_to_get_it():
    pytest.importorskip("edco.scoring.vllm_scoring")
    try:
        import vllm  # noqa: F401

        pytest.skip("vLLM is installed here")
    except ImportError:
        pass
    from edco.errors import ConfigError
    from edco.scoring.vllm_scoring import require_vllm

    with pytest.raises(ConfigError, match="needs vLLM") as error:
        require_vllm()
    assert "make vllm-env" in error.value.hint


@pytest.fixture(scope="module")
def demo_pool():
    pytest.importorskip("vllm")
    from edco.config.schema import ColumnMap
    from edco.datasets.readers import load_records

    return load_records("demo", ColumnMap(), limit=16).table


@pytest.mark.slow
def test_greedy_vllm_entropies_equal_hf_on_the_default_model(demo_pool):
    """Greedy top-20 prefix entropy of 16 demo prompts: vLLM's raw log-probabilities give HF's
    scores (float32, to 1e-5 nats) over the same tokens."""
    from edco.models.loading import load_model, load_tokenizer
    from edco.scoring import vllm_scoring
    from edco.scoring.entropy import score_table

    model_cfg = ModelConfig(dtype="float32", device="cpu")
    cfg = ScoringConfig(engine="vllm", prefix_tokens=8, top_logprobs=20, vllm_kv_cache_gib=1)
    tokenizer = load_tokenizer(model_cfg)
    hf = score_table(load_model(model_cfg), tokenizer, demo_pool, cfg, seed=0)
    ours = vllm_scoring.score_table(model_cfg, None, tokenizer, demo_pool, cfg, seed=0)
    assert ours["sample_id"].to_pylist() == hf["sample_id"].to_pylist()
    assert ours["n_tokens"].to_pylist() == hf["n_tokens"].to_pylist()
    assert ours["score"].to_pylist() == pytest.approx(hf["score"].to_pylist(), abs=1e-5)


@pytest.mark.slow
def test_sampled_vllm_scores_depend_only_on_the_sample_and_the_seed(demo_pool):
    """The published estimator (temperature 0.7, top-p 0.7, top-20, top-20% of tokens): a sample's
    score is the same scored among all 16 or among 5 others in reverse order, and another stage
    seed samples other paths."""
    from edco.models.loading import load_tokenizer
    from edco.scoring import vllm_scoring

    model_cfg = ModelConfig(dtype="float32", device="cpu")
    cfg = ScoringConfig(estimator="published", engine="vllm", prefix_tokens=16, vllm_kv_cache_gib=1)
    tokenizer = load_tokenizer(model_cfg)
    whole = vllm_scoring.score_table(model_cfg, None, tokenizer, demo_pool, cfg, seed=1)
    part = demo_pool.take(list(range(15, 9, -1)))
    again = vllm_scoring.score_table(model_cfg, None, tokenizer, part, cfg, seed=1)
    scores = dict(zip(whole["sample_id"].to_pylist(), whole["score"].to_pylist()))
    assert again["score"].to_pylist() == [scores[i] for i in again["sample_id"].to_pylist()]
    other = vllm_scoring.score_table(model_cfg, None, tokenizer, part, cfg, seed=2)
    assert other["score"].to_pylist() != again["score"].to_pylist()
