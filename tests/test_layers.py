"""The layer rule: the core (every module under edco/ but the CLI) imports no Prefect, MLflow,
flows, tasks, storage or tracking. Modules are found by walking the package, so a new one is
checked without anyone listing it."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import edco

ORCHESTRATION = ("prefect", "mlflow", "edco.flows", "edco.tasks", "edco.storage", "edco.tracking")


def core_modules() -> list[str]:
    """Every module of the edco package except the CLI, which sits on top of the layers."""
    found = [m.name for m in pkgutil.walk_packages(edco.__path__, "edco.")]
    return sorted(m for m in found if m != "edco.cli" and not m.startswith("edco.cli."))


def test_the_walk_finds_every_subpackage_and_no_orchestration_layer():
    modules = core_modules()
    for package in (
        "config",
        "data",
        "datasets",
        "models",
        "scoring",
        "selection",
        "training",
        "evaluation",
        "reporting",
    ):
        assert f"edco.{package}" in modules and any(m.startswith(f"edco.{package}.") for m in modules)
    assert not [m for m in modules if m.startswith(ORCHESTRATION)]
    assert len(modules) >= 40


def test_importing_every_core_module_pulls_in_no_orchestration():
    code = (
        "import importlib, sys\n"
        f"for name in {core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.startswith({ORCHESTRATION!r}))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_core_module_imports_orchestration_even_inside_a_function():
    """Lazy imports inside functions escape the import check above; the source does not."""
    offending = []
    for name in core_modules():
        spec = __import__("importlib.util").util.find_spec(name)
        tree = ast.parse(Path(spec.origin).read_text())
        for node in ast.walk(tree):
            targets = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            offending += [f"{name}: {t}" for t in targets if t.startswith(ORCHESTRATION)]
    assert not offending
