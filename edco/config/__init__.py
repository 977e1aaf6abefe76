"""The run's configuration: the schema every YAML is validated against, its loading, and the
reference generated from it."""

from edco.config.reference import config_reference
from edco.config.schema import (
    ColumnMap,
    EdcoConfig,
    GrpoConfig,
    LoraConfig,
    ModelConfig,
    ScoringConfig,
    SelectionConfig,
    TrainingConfig,
    config_diff,
    flatten,
    load_config,
    parse_config,
)

__all__ = [
    "ColumnMap",
    "EdcoConfig",
    "GrpoConfig",
    "LoraConfig",
    "ModelConfig",
    "ScoringConfig",
    "SelectionConfig",
    "TrainingConfig",
    "config_diff",
    "config_reference",
    "flatten",
    "load_config",
    "parse_config",
]
