"""Lazy public names for the subpackages (PEP 562), so that importing one light module of a
subpackage never loads its heavy siblings: the GRPO rewards and SEC's bandit stay free of torch
and TRL although `edco.training` and `edco.selection` also list the trainers and strategies."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: dict[str, list[str]]) -> tuple[list[str], Callable[[str], Any]]:
    """`__all__` and the module `__getattr__` for `package`, from {module: its public names}."""
    home = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{home[name]}"), name)

    return sorted(home), __getattr__
