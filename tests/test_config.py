from __future__ import annotations

import pytest

from edco.config import config_diff, load_config, parse_config
from edco.errors import ConfigError


def test_demo_config_loads():
    cfg = load_config("configs/demo.yaml")
    assert cfg.model.name == "smollm2-135m-instruct"
    assert cfg.data.pool == "demo"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"run_name": "a", "scoring": {"mdoe": "prefix"}}, "unknown key 'scoring.mdoe'"),
        ({"run_name": "a", "colour": 1}, "unknown key 'colour'"),
        ({"seed": 1}, "missing key 'run_name'"),
        ({"run_name": "../escape"}, "'run_name'"),
        ({"run_name": "a/b"}, "'run_name'"),
        ({"run_name": "a", "curriculum": {"intervals": 0}}, "'curriculum.intervals'"),
        ({"run_name": "a", "curriculum": {"intervals": -2}}, "'curriculum.intervals'"),
        ({"run_name": "a", "scoring": {"mode": "half"}}, "'scoring.mode'"),
        ({"run_name": "a", "selection": {"top_n": 0}}, "'selection.top_n'"),
        ({"run_name": "a", "selection": {"top_n": "many"}}, "'selection.top_n'"),
    ],
)
def test_invalid_configs_name_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        parse_config(data, "my.yaml")
    assert message in str(info.value)
    assert "my.yaml" in str(info.value)


def test_published_preset_fills_only_unset_knobs():
    cfg = parse_config({"run_name": "a", "scoring": {"estimator": "published", "temperature": 1.0}})
    assert cfg.scoring.temperature == 1.0
    assert (cfg.scoring.top_p, cfg.scoring.max_new_tokens, cfg.scoring.unit) == (0.7, 128, "bits")


def test_identity_ignores_the_store_location_and_diff_names_keys(tmp_path):
    a = parse_config({"run_name": "a"})
    assert a.identity_hash() == a.with_root(tmp_path).identity_hash()
    b = parse_config({"run_name": "a", "training": {"lr": 0.1}})
    assert config_diff(a, b) == ["training.lr: 2e-05 -> 0.1"]


def test_unreadable_or_non_mapping_config(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(tmp_path / "list.yaml")


@pytest.mark.parametrize("path", ["configs/demo.yaml", "configs/medqa-qwen3-4b.yaml", "configs/jecqa-llama3.2-3b.yaml"])
def test_shipped_configs_validate(path):
    assert load_config(path).run_name


def test_prefect_yaml_deployments_point_at_a_real_flow_and_config():
    import yaml
    from prefect.flows import load_flow_from_entrypoint

    spec = yaml.safe_load(open("prefect.yaml"))
    for deployment in spec["deployments"]:
        flow = load_flow_from_entrypoint(deployment["entrypoint"])
        assert flow.name == "edco-run"
        assert load_config(deployment["parameters"]["config_path"]).run_name
