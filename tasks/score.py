"""Score-pool stage: the selection signal of every pool sample under the interval's starting model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from edco.config.schema import EdcoConfig, ScoringConfig
from edco.models.devices import torch_threads
from edco.models.loading import load_model, load_tokenizer
from edco.scoring import calibration, ray_scoring, rescoring
from edco.scoring.signals import SIGNALS, Measure
from edco.seeds import derive_seed, seed_everything
from edco.selection.strategies import STRATEGIES, interval_top_n
from edco.storage.store import RunStore
from edco.tasks.stage import RETRIES, StageClock, run_stage

LOG = logging.getLogger("edco.tasks")


def _score(store: RunStore, cfg: EdcoConfig, interval: int, clock: StageClock) -> Path:
    strategy = STRATEGIES[cfg.selection.strategy]
    if interval > 0 and not strategy.rescore:  # a static curriculum: measured once, by the base model
        table = store.read_table(0, "score")
        clock.progress(table.num_rows, table.num_rows)
        spent = table.schema.get_field_index("model_tokens")
        table = table.set_column(spent, "model_tokens", pa.array([0] * len(table), pa.int64()))  # nothing spent again
        store.write_score_info(interval, {"rescored": 0, "carried": table.num_rows})
        return store.write_table(interval, "score", table, clock.timing())
    signal = SIGNALS[strategy.signal]
    pool = store.pool()
    entropy = strategy.signal == "entropy"
    elsewhere = entropy and (cfg.scoring.backend == "ray" or cfg.scoring.engine == "vllm")
    if signal.needs_model and not entropy and (cfg.scoring.backend, cfg.scoring.engine) != ("local", "hf"):
        LOG.warning(
            "interval %d: the %s signal is measured in the stage's process: scoring.backend/engine "
            "(%s, %s) run the entropy signal only",
            interval,
            strategy.signal,
            cfg.scoring.backend,
            cfg.scoring.engine,
        )
    calibrating = entropy and interval == 0 and _calibrated(cfg.scoring)
    with clock.timing_model_io():
        tokenizer = load_tokenizer(cfg.model)
        local = signal.needs_model and (not elsewhere or calibrating)  # Ray's actors and vLLM load their own
        model = load_model(cfg.model, store.model_checkpoint(interval)) if local else None
    n = interval_top_n(cfg, len(pool))
    scoring, info = (
        _scoring(store, cfg, interval, model, tokenizer, pool, n) if strategy.signal == "entropy" else (cfg.scoring, {})
    )
    measure = _measure(store, cfg, interval, signal.measure, entropy)
    if interval > 0 and signal.needs_model and scoring.partial:
        previous = store.read_table(interval - 1, "select")
        before = store.read_table(interval - 2, "select") if interval > 1 else None
        plan = rescoring.plan(previous, before, scoring, n, derive_seed(cfg.seed, interval, "rescore"), interval)
        chosen = pool.filter(pc.is_in(pool["id"], value_set=previous["sample_id"].filter(pa.array(plan.rescore))))
        fresh = rescoring.with_scored_at(measure(model, tokenizer, chosen, scoring, clock.progress), interval)
        table, info = rescoring.merge(previous, fresh, interval), {**info, **plan.summary()}
    else:
        table = rescoring.with_scored_at(measure(model, tokenizer, pool, scoring, clock.progress), interval)
        info = {**info, "rescored": table.num_rows, "carried": 0}
    measured = info["rescored"] if signal.needs_model else table.num_rows  # what the progress line counts
    clock.progress(measured, measured)  # signals without a model (length, none) report nothing themselves
    store.write_score_info(interval, info)
    return store.write_table(interval, "score", table, clock.timing())


def _calibrated(scoring: ScoringConfig) -> bool:
    """Whether interval 0 calibrates the prefix length (`prefix_tokens: auto`), on the stage's own model."""
    return scoring.prefix_tokens == "auto" and scoring.mode != "full"


def _measure(
    store: RunStore, cfg: EdcoConfig, interval: int, measure: Measure, entropy: bool
) -> Callable[..., pa.Table]:
    """The signal's measurement with the stage's sampling seed: under `scoring.threads` in this
    process, on Ray's scorer actors (`scoring.backend: ray`) or on vLLM (`scoring.engine: vllm`) for
    the entropy signal."""
    seed = derive_seed(cfg.seed, interval, "score")
    if entropy and cfg.scoring.backend == "ray":
        checkpoint = store.model_checkpoint(interval)

        def remote(model, tokenizer, records, scoring, progress) -> pa.Table:  # noqa: ANN001 - Measure's
            return ray_scoring.score_table(cfg.model, checkpoint, tokenizer, records, scoring, cfg.ray, seed, progress)

        return remote
    if entropy and cfg.scoring.engine == "vllm":
        checkpoint = store.model_checkpoint(interval)

        def on_vllm(model, tokenizer, records, scoring, progress) -> pa.Table:  # noqa: ANN001 - Measure's
            from edco.scoring import vllm_scoring

            return vllm_scoring.score_table(cfg.model, checkpoint, tokenizer, records, scoring, seed, progress)

        return on_vllm

    def local(model, tokenizer, records, scoring, progress) -> pa.Table:  # noqa: ANN001 - Measure's
        with torch_threads(scoring.threads):
            return measure(model, tokenizer, records, scoring, progress, seed)

    return local


def _scoring(
    store: RunStore,
    cfg: EdcoConfig,
    interval: int,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pool: pa.Table,
    n: int,
) -> tuple[ScoringConfig, dict[str, Any]]:
    """The entropy settings, with `prefix_tokens: auto` calibrated in interval 0 and read back after it."""
    if not _calibrated(cfg.scoring):
        return cfg.scoring, {}
    if interval > 0:
        return calibration.resolve(cfg.scoring, store.score_info(0)["calibration"]["choice"]), {}
    record = calibration.calibrate(model, tokenizer, pool, cfg.scoring, n, derive_seed(cfg.seed, 0, "calibrate"))
    seed_everything(derive_seed(cfg.seed, 0, "score"))  # the pool is scored as if nothing had run before it
    return calibration.resolve(cfg.scoring, record["choice"]), {"calibration": record}


@task(name="score", **RETRIES)
def score(run_dir: str, interval: int) -> str:
    """The strategy's signal for every pool sample under the model that interval `interval` starts from."""
    return run_stage(run_dir, interval, "score", _score)
