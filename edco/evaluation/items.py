"""Per-item results of one evaluation: the rows of the `eval_items` SQL view, and what the paired
statistics of `edco compare` resample (`edco.reporting.paired`).

A mean over the eval set hides which items a model gets right; two models are compared far more
precisely on the same items (paired) than by their means, and a continuous per-item value (the
gold option's probability, the reference NLL) moves before a 0/1 correctness does.

An evaluation's items are held as columns (`Items`: a dict of equal-length lists, JSON-able so the
base model's can be shared between the runs of a store): `item_id`, `category`, `predicted`,
`correct`, `value`, and one list per metric the evaluation measured (`accuracy`, `reference_nll`,
`rouge_l`, ...), the item's share of that metric's mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from edco.data.kinds import LETTERS

if TYPE_CHECKING:  # the store reads ITEM_SCHEMA without loading torch
    from edco.evaluation.accuracy import Predictions

Items = dict[str, list[Any]]

ITEM_SCHEMA = pa.schema(
    [
        ("run", pa.string()),
        ("interval", pa.int32()),  # the interval whose model answered; null for the base model
        ("model", pa.string()),  # 'base' or 'trained'
        ("item_id", pa.string()),
        ("category", pa.string()),
        ("predicted", pa.string()),  # the option letter, or the generated answer (null when none was generated)
        ("correct", pa.bool_()),  # choice: the readout's option is the gold one; free-form: see free_form_items
        ("value", pa.float64()),  # continuous: the gold option's probability, or the reference NLL
        ("metric", pa.string()),  # the run's headline metric
        ("metric_value", pa.float64()),  # this item's share of it: its mean over the items is the metric
    ]
)


def choice_items(predictions: Predictions, eval_set: pa.Table, method: str) -> Items:
    """Per question, by the configured readout: the chosen letter, whether it is the gold one, and
    the gold option's probability normalised over the options."""
    answers = eval_set["answer"].to_pylist()
    chosen = predictions.by(method)
    correct = [c == a for c, a in zip(chosen, answers)]
    return {
        **_identity(eval_set),
        "predicted": [LETTERS[c] for c in chosen],
        "correct": correct,
        "value": predictions.gold_probability(method, answers),
        "accuracy": [float(c) for c in correct],
    }


def free_form_items(eval_set: pa.Table, measured: dict[str, list[Any]], answers: list[str] | None) -> Items:
    """Per record: the generated answer, `correct` (the judge's verdict when there is a judge, else
    an exact match; null without generated answers, or when the judge's reply was unparsed), the
    reference NLL as `value`, and every per-item measure (`measured`: name -> values)."""
    verdicts = measured.get("judge_accuracy")
    exact = measured.get("exact_match")
    if verdicts is not None:
        correct = [None if v is None else bool(v) for v in verdicts]
    elif exact is not None:
        correct = [bool(e) for e in exact]
    else:
        correct = [None] * eval_set.num_rows
    return {
        **_identity(eval_set),
        "predicted": answers if answers is not None else [None] * eval_set.num_rows,
        "correct": correct,
        "value": measured["reference_nll"],
        **measured,
    }


def _identity(eval_set: pa.Table) -> Items:
    return {"item_id": eval_set["id"].to_pylist(), "category": eval_set["category"].to_pylist()}


def item_table(run: str, interval: int, metric: str, trained: Items | None, base: Items | None) -> pa.Table:
    """The interval's `eval_items.parquet`: the trained model's items (when the interval was
    evaluated), then the base model's (interval 0 only)."""
    parts = [
        _rows(run, interval_, model, metric, items)
        for interval_, model, items in ((interval, "trained", trained), (None, "base", base))
        if items is not None
    ]
    return pa.concat_tables(parts) if parts else ITEM_SCHEMA.empty_table()


def _rows(run: str, interval: int | None, model: str, metric: str, items: Items) -> pa.Table:
    n = len(items["item_id"])
    columns = {
        "run": [run] * n,
        "interval": [interval] * n,
        "model": [model] * n,
        **{name: items[name] for name in ("item_id", "category", "predicted", "correct", "value")},
        "metric": [metric] * n,
        "metric_value": items[metric],
    }
    return pa.table(columns, schema=ITEM_SCHEMA)
