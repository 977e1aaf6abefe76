"""One run as one HTML page that opens anywhere: mailed, archived, or logged as an artifact.

The page is self-contained (inline CSS, images as `data:` URIs, no scripts or fonts to fetch)
so it renders the same offline and years later, and every string that comes from data
(questions, ids, the config) is escaped: pool text is user input and may hold markup.
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from edco.evaluation.headline import better, headline

TOP_SAMPLES = 20
STAGES = ("score", "select", "train", "evaluate")
CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1150px; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; vertical-align: top; }
th { background: #f0f0f0; }
td.text { text-align: left; }
td.id { text-align: left; white-space: nowrap; }
tr.selected { background: #eaf4ea; }
figure { display: inline-block; margin: 0 1em 1em 0; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
"""


def render_report(
    run: str,
    config_yaml: str,
    metrics: list[dict[str, Any]],
    turnover: list[dict[str, Any]],
    top_samples: list[dict[str, Any]],
    images: dict[str, bytes],
) -> str:
    """The whole page: per-interval table, plots (caption -> PNG bytes), top samples, config."""
    title = f"edco report: {run}"
    body = [
        f"<h1>{escape(title)}</h1>",
        "<h2>Intervals</h2>",
        interval_table(metrics, turnover),
        "<h2>Plots</h2>",
        *(_figure(caption, png) for caption, png in images.items()),
        f"<h2>Highest-signal samples of interval {metrics[-1]['interval'] if metrics else '—'}</h2>",
        sample_table(top_samples, _signal_label(metrics)),
        "<h2>Config</h2>",
        f"<pre>{escape(config_yaml)}</pre>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def interval_table(metrics: list[dict[str, Any]], turnover: list[dict[str, Any]]) -> str:
    """One row per interval: the headline metric, signal, selection turnover, training loss and stage seconds."""
    moved = {row["interval"]: row for row in turnover}
    metric = headline(metrics[0])[0] if metrics else "accuracy"
    header = [
        "interval",
        f"{metric} ({better(metric)} is better)",
        f"base {metric}",
        "selected signal",
        "pool signal",
        "new",
        "retained",
        "returned",
        "train loss",
        *(f"{stage} s" for stage in STAGES),
    ]
    rows = []
    for m in metrics:
        churn = moved.get(m["interval"], {})
        cells = [
            str(m["interval"]),
            _number(m.get(metric), ".3f"),
            _number(m.get(f"base_{metric}"), ".3f"),
            _number(m.get("selected_signal_mean"), ".4g"),
            _number(m.get("pool_signal_mean"), ".4g"),
            *(_number(churn.get(part), "d") for part in ("new", "retained", "returned")),
            _number(m.get("train_loss"), ".4f"),
            *(_number(m.get(f"{stage}_seconds"), ".1f") for stage in STAGES),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return _table("intervals", header, rows)


def sample_table(samples: list[dict[str, Any]], signal: str) -> str:
    """The samples with the highest signal, selected ones highlighted, with the question text."""
    header = ["rank", "sample", signal, "selected", "question"]
    rows = [
        f'<tr class="{"selected" if s["selected"] else "pool"}">'
        f'<td>{_number(s.get("rank"), "d")}</td><td class="id">{escape(str(s["sample_id"]))}</td>'
        f"<td>{_number(s.get('score'), '.4g')}</td><td>{'yes' if s['selected'] else 'no'}</td>"
        f'<td class="text">{escape(str(s["question"]))}</td></tr>'
        for s in samples[:TOP_SAMPLES]
    ]
    return _table("top-samples", header, rows)


def _table(table_id: str, header: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    return (
        f'<table id="{table_id}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n' + "\n".join(rows) + "\n</tbody>\n</table>"
    )


def _figure(caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    caption = escape(caption)
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'
    )


def _signal_label(metrics: list[dict[str, Any]]) -> str:
    name = metrics[-1].get("signal") if metrics else None
    return "signal" if name in (None, "none") else str(name)


def _number(value: float | int | None, fmt: str) -> str:
    """A blank-looking dash for what was not measured (no signal, no turnover, another run's column)."""
    return "—" if value is None else format(value, fmt)
