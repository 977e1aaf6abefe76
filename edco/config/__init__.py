"""The run's configuration: the schema every YAML is validated against, its loading, and the
reference generated from it."""

from edco.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "reference": ["config_reference"],
        "schema": [
            "ColumnMap",
            "EdcoConfig",
            "GrpoConfig",
            "LoraConfig",
            "ModelConfig",
            "ScoringConfig",
            "SelectionConfig",
            "TrainingConfig",
            "config_diff",
            "flatten",
            "load_config",
            "parse_config",
            "updated",
        ],
    },
)
