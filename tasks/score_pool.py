from __future__ import annotations

from prefect import task

from edco.entropy import score_table
from edco.models import load_model, load_tokenizer
from tasks.stage import RETRIES, run_stage


def _score(store, cfg, interval, clock):  # noqa: ANN001 - a tasks.stage.StageBody
    model = load_model(cfg.model, store.model_checkpoint(interval))
    table = score_table(model, load_tokenizer(cfg.model), store.pool(), cfg.scoring, clock.progress)
    return store.write_table(interval, "score", table, clock.seconds())


@task(name="score-pool", **RETRIES)
def score_pool(run_dir: str, interval: int) -> str:
    """Entropy of every pool sample under the model that interval `interval` starts from."""
    return run_stage(run_dir, interval, "score", _score)
