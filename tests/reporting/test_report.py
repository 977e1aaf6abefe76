"""Per-run plots and the HTML report: hand-made rows for the pieces, a real tiny run rendered by Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image, ImageStat

from edco.cli.app import main
from edco.errors import StoreError
from edco.reporting import plots
from edco.reporting.html import render_report
from edco.storage.report import INTERVAL_PLOTS, build_report
from tests.helpers import headless

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _scores(values: list[float | None], signal: str) -> pa.Table:
    """Two intervals of a 6-sample pool, the second scoring 0.8 times the first; ranks 1-2 are selected."""
    n = len(values)
    return pa.table(
        {
            "run": ["r"] * 2 * n,
            "interval": [0] * n + [1] * n,
            "sample_id": [f"q{i}" for i in range(n)] * 2,
            "score": pa.array(values + [None if v is None else v * 0.8 for v in values], pa.float64()),
            "signal": [signal] * 2 * n,
            "rank": list(range(1, n + 1)) * 2,
            "selected": [i < 2 for i in range(n)] * 2,
        }
    )


ENTROPY = _scores([2.5, 2.1, 1.4, 1.2, 0.9, 0.3], "entropy")
NO_SIGNAL = _scores([None] * 6, "none")
METRICS = [
    {
        "run": "r",
        "interval": i,
        "accuracy": acc,
        "base_accuracy": 0.25,
        "signal": "entropy",
        "selected_signal_mean": sel,
        "pool_signal_mean": pool,
        "train_loss": loss,
        "score_seconds": 1.5,
        "select_seconds": 0.1,
        "train_seconds": 12.0,
        "evaluate_seconds": 3.25,
    }
    for i, (acc, sel, pool, loss) in enumerate([(0.3, 2.3, 1.4, 2.2), (0.4, 2.0, 1.2, 1.9), (0.5, 1.7, 1.1, 1.6)])
]
TURNOVER = [
    {"run": "r", "interval": 0, "selected": 4, "new": 4, "retained": 0, "returned": 0},
    {"run": "r", "interval": 1, "selected": 4, "new": 2, "retained": 2, "returned": 0},
    {"run": "r", "interval": 2, "selected": 4, "new": 1, "retained": 2, "returned": 1},
]


def _drawn(png: Path) -> Image.Image:
    """The PNG, after checking it is one and is not blank (dark and light pixels both present)."""
    assert png.read_bytes()[:8] == PNG_MAGIC
    image = Image.open(png)
    low, high = image.convert("L").getextrema()
    assert low < 100 < high
    return image


def _max_saturation(image: Image.Image) -> int:
    """Coloured marks (bars, lines) are saturated; text and axes are black or grey."""
    return image.convert("RGB").convert("HSV").getextrema()[1][1]


def test_signal_histogram_draws_pool_and_selection_bars(tmp_path):
    image = _drawn(plots.signal_histogram(ENTROPY, 1, tmp_path / "hist"))  # a temp name without suffix works
    assert _max_saturation(image) > 100


def test_signal_histogram_without_a_signal_draws_only_the_notice(tmp_path):
    image = _drawn(plots.signal_histogram(NO_SIGNAL, 0, tmp_path / "hist.png"))
    assert _max_saturation(image) == 0  # text only: no bars drawn from null scores


def test_turnover_bars_stack_new_retained_returned(tmp_path):
    image = _drawn(plots.turnover_bars(TURNOVER, tmp_path / "turnover.png"))
    assert _max_saturation(image) > 100


def test_accuracy_and_signal_draws_both_panels(tmp_path):
    image = _drawn(plots.accuracy_and_signal(METRICS, tmp_path / "acc.png"))
    assert _max_saturation(image) > 100


def test_accuracy_and_signal_without_a_signal_still_draws_accuracy(tmp_path):
    unmeasured = [{**m, "signal": "none", "selected_signal_mean": None, "pool_signal_mean": None} for m in METRICS]
    image = _drawn(plots.accuracy_and_signal(unmeasured, tmp_path / "acc.png"))
    assert _max_saturation(image) > 100  # the accuracy line


def _page(top_samples: list[dict] | None = None) -> str:
    return render_report(
        "r<b>",
        "run_name: r\nnote: a & b\n",
        METRICS,
        TURNOVER,
        top_samples or [{"sample_id": "q0", "score": 2.5, "rank": 1, "selected": True, "question": "plain"}],
        {"accuracy": b"\x89PNG-one", "turnover": b"\x89PNG-two"},
    )


def test_render_report_escapes_text_from_data():
    evil = "<script>alert('x')</script> & <img src=x>"
    page = _page([{"sample_id": "<id>", "score": None, "rank": 1, "selected": False, "question": evil}])
    assert "<script>" not in page and "<img src=x>" not in page and "<id>" not in page and "r<b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;img src=x&gt;" in page
    assert "<title>edco report: r&lt;b&gt;</title>" in page and "note: a &amp; b" in page


def test_render_report_has_one_table_row_per_interval():
    table = re.search(r'<table id="intervals">.*?</table>', _page(), re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1])
    assert [re.findall(r"<td>(.*?)</td>", row)[:9] for row in rows] == [
        ["0", "0.300", "0.250", "2.3", "1.4", "4", "0", "0", "2.2000"],
        ["1", "0.400", "0.250", "2", "1.2", "2", "2", "0", "1.9000"],
        ["2", "0.500", "0.250", "1.7", "1.1", "1", "2", "1", "1.6000"],
    ]


def test_render_report_embeds_images_and_references_nothing_outside():
    page = _page()
    assert 'src="data:image/png;base64,iVBORy1vbmU="' in page and 'src="data:image/png;base64,iVBORy10d28="' in page
    assert "http://" not in page and "https://" not in page and "<link" not in page


def test_importing_plots_and_report_pulls_in_no_orchestration_or_store():
    code = (
        "import sys, edco.reporting.plots, edco.reporting.html\n"
        "bad = [m for m in ('prefect', 'mlflow', 'flows', 'tasks', 'storage') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_run_is_a_store_error_with_a_hint(tmp_path):
    with pytest.raises(StoreError, match="no run 'ghost'") as caught:
        build_report(tmp_path, "ghost")
    assert "edco runs" in caught.value.hint


@pytest.fixture(scope="module")
def finished_run(finished_tiny):
    return finished_tiny[1:]


def test_report_of_a_finished_run_renders_in_headless_chromium(finished_run, chromium, tmp_path):
    store, metrics = finished_run
    page = build_report(store.run_dir.parent, store.name)
    assert page == store.run_dir / "report" / "report.html"
    assert {str(p.relative_to(page.parent)) for p in page.parent.rglob("*") if p.is_file()} == {
        "report.html",
        *(f"interval_00{i}/{name}" for i in (0, 1) for name in INTERVAL_PLOTS),
    }
    dom = headless(chromium, page.as_uri(), tmp_path / "profile", "--dump-dom")
    assert "<title>edco report: tiny</title>" in dom
    table = re.search(r'<table id="intervals">.*?</table>', dom, re.S).group(0)
    assert re.findall(r"<tr><td>(\d+)</td>", table) == ["0", "1"]
    assert len(re.findall(r"<tr", re.search(r'<table id="top-samples">.*?</table>', dom, re.S).group(0))) == 1 + 20
    shot = tmp_path / "shot.png"
    headless(chromium, page.as_uri(), tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,2000")
    image = _drawn(shot)
    assert image.size == (1200, 2000) and ImageStat.Stat(image.convert("L")).stddev[0] > 10
    assert _max_saturation(image) > 100  # the embedded plots decoded and drew


def test_cli_report_prints_the_page_path(finished_run, capsys):
    store, _ = finished_run
    assert main(["report", store.name, "--root", str(store.run_dir.parent)]) == 0
    assert capsys.readouterr().out.strip() == str(store.run_dir / "report" / "report.html")
