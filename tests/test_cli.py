from __future__ import annotations

import json

import pytest

from edco import demo
from edco.cli import main
from edco.errors import ConfigError


def test_data_demo_writes_the_generator_output(tmp_path, capsys):
    out = tmp_path / "eval.jsonl"
    assert main(["data", "demo", "--out", str(out), "--split", "eval", "--seed", "3", "--n", "7"]) == 0
    assert [json.loads(line) for line in out.read_text().splitlines()] == demo.generate("eval", 3, 7)
    assert "wrote 7 eval records" in capsys.readouterr().out


def test_bad_config_exits_2_with_one_line_and_a_hint(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("run_name: x\nscoring:\n  mode: sideways\n")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "'scoring.mode'" in err and str(config) in err and "hint:" in err


def test_debug_shows_the_exception(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("run_name: ../x\n")
    with pytest.raises(ConfigError):
        main(["--debug", "run", str(config)])


def test_usage_errors_exit_2(capsys):
    assert main(["sql"]) == 2
    assert main(["data", "demo", "--out", "x.jsonl", "--split", "test"]) == 2
    assert "--split must be pool or eval" in capsys.readouterr().err


def test_importing_the_core_pulls_in_no_orchestration():
    import subprocess
    import sys

    code = (
        "import sys, edco, edco.config, edco.data, edco.entropy, edco.selection, edco.training, "
        "edco.evaluation, edco.models, edco.demo, edco.prompts\n"
        "bad = [m for m in ('prefect', 'mlflow', 'flows', 'tasks', 'storage') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
