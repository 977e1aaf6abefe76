"""docs/CONFIG.md, generated from the config schema so that the reference cannot drift from the code."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from edco.config.schema import EdcoConfig

HEADER = """# Configuration reference

Generated from the pydantic schema in `edco/config/schema.py` by `edco config-docs > docs/CONFIG.md`;
a test fails when this file is out of date. `configs/demo.yaml` is the annotated example.
Unknown keys are rejected with their dotted name.

| key | default | meaning |
|---|---|---|
"""


def config_reference() -> str:
    return HEADER + "".join(f"| `{key}` | {default} | {meaning} |\n" for key, default, meaning in _rows(EdcoConfig, ""))


def _rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str]]:
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = _section(field.annotation)
        if nested is not None:
            rows.append(
                (
                    key,
                    "`null`" if field.default is None else "",
                    _cell(field.description or (nested.__doc__ or "").strip().split("\n\n")[0]),
                )
            )
            rows.extend(_rows(nested, f"{key}."))
            continue
        rows.append((key, _default(field), _cell(field.description or "")))
    return rows


def _section(annotation: Any) -> type[BaseModel] | None:
    """The config section a field holds (also inside `X | None`), or None for a plain value."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default is PydanticUndefined else field.default
    return f"`{json.dumps(value, default=str)}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
