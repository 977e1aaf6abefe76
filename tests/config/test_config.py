from __future__ import annotations

from pathlib import Path

import pytest

from edco.config.schema import config_diff, load_config, parse_config, updated
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
        ({"run_name": "a", "training": {"method": "rl"}}, "'training.method'"),
        ({"run_name": "a", "training": {"grpo": {"num_generations": 1}}}, "'training.grpo.num_generations'"),
        ({"run_name": "a", "model": {"dtype": "int8"}}, "'model.dtype'"),
        ({"run_name": "a", "storage": {"keep_checkpoints": "some"}}, "'storage.keep_checkpoints'"),
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


SHIPPED = sorted(str(p) for p in Path("configs").glob("*.yaml"))


def test_every_shipped_config_is_tested():
    assert {"configs/demo.yaml", "configs/demo-grpo.yaml", "configs/medqa-qwen3-4b.yaml"} <= set(SHIPPED)


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_configs_validate(path):
    cfg = load_config(path)
    assert cfg.run_name and Path(path).stem.startswith(cfg.run_name.split("-")[0])


def test_published_grpo_preset_fills_only_unset_knobs():
    cfg = parse_config({"run_name": "a", "training": {"preset": "published_grpo", "grpo": {"iterations": 7}}})
    g = cfg.training.grpo
    assert (cfg.training.method, cfg.training.lr, cfg.curriculum.intervals) == ("grpo", 1e-6, 5)
    assert (g.num_generations, g.beta, g.epsilon, g.iterations) == (8, 0.01, 0.2, 7)
    explicit = parse_config(
        {"run_name": "a", "curriculum": {"intervals": 2}, "training": {"preset": "published_grpo", "lr": 1e-5}}
    )
    assert (explicit.training.lr, explicit.curriculum.intervals) == (1e-5, 2)


def test_storage_settings_are_not_part_of_the_run_identity(tmp_path):
    a = parse_config({"run_name": "a"})
    b = parse_config({"run_name": "a", "storage": {"keep_checkpoints": "best", "root": str(tmp_path)}})
    assert a.identity_hash() == b.identity_hash()
    assert b.with_root(tmp_path / "x").storage.keep_checkpoints == "best"


def test_prefect_yaml_deployments_point_at_a_real_flow_and_config():
    import yaml
    from prefect.flows import load_flow_from_entrypoint

    spec = yaml.safe_load(open("prefect.yaml"))
    flows = {d["name"]: load_flow_from_entrypoint(d["entrypoint"]).name for d in spec["deployments"]}
    assert flows == {"edco-curriculum": "edco-run", "edco-resume": "edco-resume"}
    [curriculum] = [d for d in spec["deployments"] if d["name"] == "edco-curriculum"]
    assert load_config(curriculum["parameters"]["config_path"]).run_name


def test_committed_config_reference_is_up_to_date():
    from edco.config.reference import config_reference

    assert Path("docs/CONFIG.md").read_text() == config_reference(), "run: edco config-docs > docs/CONFIG.md"


_BASE = {"run_name": "a", "scoring": {"mode": "full", "batch_size": 4}, "selection": {"drop_top": 0.1}}


def test_updated_equals_parsing_the_updated_dict(tmp_path):
    cfg = parse_config(_BASE)
    scoring = updated(cfg.scoring, mode="prefix", prefix_tokens=3)
    new = updated(cfg, seed=7, scoring=scoring, selection=updated(cfg.selection, strategy="sec"))
    expected = parse_config(
        {
            "run_name": "a",
            "seed": 7,
            "scoring": {"mode": "prefix", "batch_size": 4, "prefix_tokens": 3},
            "selection": {"drop_top": 0.1, "strategy": "sec"},
        }
    )
    assert new == expected and new.model_dump() == expected.model_dump()
    assert cfg.scoring.mode == "full"  # the original is untouched
    # a preset fills the knobs that were never set, as it does when parsing
    assert (
        updated(cfg.scoring, estimator="published")
        == parse_config({"run_name": "a", "scoring": {**_BASE["scoring"], "estimator": "published"}}).scoring
    )
    # with_root goes through it too, and keeps everything else
    moved = cfg.with_root(tmp_path)
    assert moved.storage.root == tmp_path and moved.identity_hash() == cfg.identity_hash()


@pytest.mark.parametrize(
    "section, changes, message",
    [
        ("scoring", {"prefix_tokens": -1}, "'scoring.prefix_tokens'"),
        ("scoring", {"mode": "half"}, "'scoring.mode'"),
        ("selection", {"strategy": "best"}, "'selection.strategy'"),
        ("selection", {"window": (0.0, 0.5)}, "set either drop_top or window"),
        ("storage", {"keep_checkpoints": "some"}, "'storage.keep_checkpoints'"),
        (None, {"run_name": "../escape"}, "'run_name'"),
        (None, {"colour": 1}, "unknown key 'colour'"),
    ],
)
def test_updated_rejects_what_model_copy_lets_through(section, changes, message):
    cfg = parse_config(_BASE)
    model = getattr(cfg, section) if section else cfg
    if "colour" not in changes:  # model_copy accepts the bad value silently
        copy = model.model_copy(update=changes)
        assert all(getattr(copy, key) == value for key, value in changes.items())
    with pytest.raises(ConfigError, match="invalid config update") as info:
        updated(model, **changes)
    assert message in str(info.value)
