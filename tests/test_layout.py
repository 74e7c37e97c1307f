"""The package stays readable: no module of repro/ over 450 lines, no function over 80, and every family's code in
its own package (no experiment, metric or table of a family outside repro/families/)."""

import ast
from pathlib import Path

import pytest

import repro
from repro import registry

PACKAGE = Path(repro.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 450, 80


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_module_and_function_sizes(path):
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long


def test_every_family_is_a_package_of_the_registry():
    packages = {p.parent.name for p in (PACKAGE / "families").glob("*/experiment.py")}
    assert packages == set(registry.FAMILIES)
    for name, module in registry.FAMILIES.items():
        assert module == f"repro.families.{name}"
        folder = PACKAGE / "families" / name
        assert {"experiment.py", "schemas.py", "metrics.py", "README.md"} <= {p.name for p in folder.iterdir()}
