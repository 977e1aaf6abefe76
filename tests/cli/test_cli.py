from __future__ import annotations

import json

import pytest

from edco.cli.app import main
from edco.datasets import demo
from edco.errors import ConfigError


def test_data_demo_writes_the_generator_output(tmp_path, capsys):
    out = tmp_path / "eval.jsonl"
    assert main(["data", "demo", "--out", str(out), "--split", "eval", "--seed", "3", "--n", "7"]) == 0
    assert [json.loads(line) for line in out.read_text().splitlines()] == demo.generate("eval", 3, 7)
    assert "wrote 7 eval choice records" in capsys.readouterr().out
    assert main(["data", "demo", "--out", str(out), "--split", "eval", "--n", "2", "--kind", "reference"]) == 0
    assert [json.loads(line) for line in out.read_text().splitlines()] == demo.generate("eval", 0, 2, "reference")
    assert main(["data", "demo", "--out", str(out), "--kind", "prose"]) == 2


def test_bad_config_exits_2_with_one_line_and_a_hint(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("run_name: x\nscoring:\n  mode: sideways\n")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "'scoring.mode'" in err and str(config) in err and "hint:" in err


@pytest.mark.parametrize("command", ["show", "turnover", "resume", "report"])
def test_an_unknown_run_exits_2_with_the_command_that_lists_runs(command, tmp_path, capsys):
    assert main([command, "ghost", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: no run 'ghost' in store") and err[1].startswith(
        "hint: list the store's runs with: edco runs"
    )


def test_debug_shows_the_exception(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("run_name: ../x\n")
    with pytest.raises(ConfigError):
        main(["--debug", "run", str(config)])


def test_usage_errors_exit_2(capsys):
    assert main(["sql"]) == 2
    assert main(["data", "demo", "--out", "x.jsonl", "--split", "test"]) == 2
    assert "--split must be pool or eval" in capsys.readouterr().err


def test_runs_show_and_turnover_read_a_finished_store(finished_tiny, capsys):
    from edco.storage.sql import query

    _, store, metrics = finished_tiny
    root = store.run_dir.parent
    capsys.readouterr()
    assert main(["runs", "--root", str(root)]) == 0
    listing = capsys.readouterr().out
    row = next(line for line in listing.splitlines() if line.startswith("│ tiny"))
    assert "finished" in row and "2/2" in row and f"{max(m['accuracy'] for m in metrics):.4f}" in row
    assert main(["show", "tiny", "--root", str(root)]) == 0
    shown = capsys.readouterr().out
    assert all(f"{m['accuracy']:.4f}" in shown for m in metrics) and "retained" in shown
    assert main(["turnover", "tiny", "--root", str(root)]) == 0
    rows = [
        [cell.strip() for cell in line.split("│")[1:6]]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("│")
    ]
    expected = query(root, "SELECT * FROM turnover WHERE run = 'tiny' ORDER BY interval").to_pylist()
    assert rows == [[str(t[k]) for k in ("interval", "selected", "new", "retained", "returned")] for t in expected]
    assert main(["show", "nope", "--root", str(root)]) == 2


def _tiny_run_config(tiny_model_dir, tmp_path, name: str, **overrides):
    import yaml

    from tests.helpers import tiny_config

    path = tmp_path / f"{name}.yaml"
    cfg = tiny_config(tiny_model_dir, tmp_path / "store", run_name=name, **{"curriculum.intervals": 1, **overrides})
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_off_a_terminal_each_stage_prints_one_line_and_quiet_prints_none(tiny_model_dir, prefect_api, tmp_path, capsys):
    assert main(["run", str(_tiny_run_config(tiny_model_dir, tmp_path, "lines"))]) == 0
    captured = capsys.readouterr()
    assert "Building labels" not in captured.err and "Loading weights" not in captured.err  # no library progress bars
    lines = [line for line in captured.out.splitlines() if line.startswith("lines interval 0 ")]
    assert [line.split(":")[0] for line in lines] == [
        f"lines interval 0 {s}" for s in ("score", "select", "train", "evaluate")
    ]
    assert "samples/s" in lines[0] and "step" in lines[2] and "24/24" in lines[0]
    assert main(["run", str(_tiny_run_config(tiny_model_dir, tmp_path, "hush")), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "hush interval 0 " not in out and "run hush" in out  # the result table still prints
    # a strategy that measures nothing still counts the pool it "scored"
    assert (
        main(["run", str(_tiny_run_config(tiny_model_dir, tmp_path, "rand", **{"selection.strategy": "random"}))]) == 0
    )
    assert "rand interval 0 score: 24/24 in " in capsys.readouterr().out


def test_on_a_terminal_stages_show_progress_bars_with_rate_and_eta(tiny_model_dir, prefect_api, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    import edco.cli.output

    screen = io.StringIO()
    monkeypatch.setattr(edco.cli.output, "console", Console(file=screen, force_terminal=True, width=160))
    assert main(["run", str(_tiny_run_config(tiny_model_dir, tmp_path, "bars"))]) == 0
    shown = screen.getvalue()
    assert "bars interval 0 score" in shown and "24/24" in shown and "samples/s" in shown and "ETA" in shown
