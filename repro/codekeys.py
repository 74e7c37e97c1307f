"""Code keys: the hash of the source a job's output depends on, a Snakemake rerun trigger (docs/design.md §4).

A key follows imports (read with ``ast``, never executed) from the modules a job runs, so it covers exactly the
code that job executes and nothing else:

- a run (:func:`run_key`): the runner core, the family's experiment and the schemas, shared methods and tasks it
  imports; editing a metric, the claim schema or the verdict engine re-runs no training;
- a metrics job (:func:`metrics_key`): the scoring harness and the family's metrics and schemas;
- a property check (:func:`property_key`): the check's module;
- a decision (:func:`decision_key`) and a verdict (:func:`verdict_key`): the verdict engine, and for verdicts the
  card templates and the ledger.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from pathlib import Path

from repro import registry


def module_path(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin) if spec is not None and spec.origin else None


@functools.cache
def _repro_imports(name: str) -> frozenset[str]:
    """``repro.*`` modules imported by module ``name`` (not executed; read with ast)."""
    path = module_path(name)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("repro"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("repro"):
            found.add(node.module)
            if _is_package(node.module):  # "from repro.methods import preference" imports a submodule
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    if importlib.util.find_spec(candidate) is not None:
                        found.add(candidate)
    return frozenset(found)


def _is_package(name: str) -> bool:
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.submodule_search_locations is not None


@functools.cache
def closure_modules(name: str) -> frozenset[str]:
    """``name`` and every ``repro`` module it imports, transitively (module names)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(_repro_imports(current) - seen)
    return frozenset(seen)


def module_closure(name: str) -> list[Path]:
    """Source files of ``name`` and every ``repro`` module it imports, transitively."""
    files = {module_path(mod) for mod in closure_modules(name)}
    return sorted(f for f in files if f is not None)


PACKAGE = Path(__file__).parent
TEMPLATES = PACKAGE / "templates"
"""The layout of the verdict cards and the HTML report, which ``repro.report`` renders: part of its code version."""


def label(path: Path) -> str:
    """A source file's name in keys and messages: its path from the repository root (``repro/...``)."""
    return path.relative_to(PACKAGE.parent).as_posix() if path.is_relative_to(PACKAGE.parent) else path.name


def code_version(*module_names: str) -> str:
    """Hash of the source of the given modules and their ``repro`` imports, and of ``TEMPLATES`` where
    ``repro.report`` is among them (a rerun trigger: a changed card layout re-renders the cards)."""
    digest = hashlib.sha256()
    files = sorted({f for name in module_names for f in module_closure(name)})
    if module_path("repro.report") in files:
        files += sorted(TEMPLATES.glob("*.j2"))
    for path in files:
        digest.update(label(path).encode())  # a moved module is a different key
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run_key(experiment: str) -> str:
    family = functools.partial(registry.module_name, experiment)
    return code_version("repro.runner", family("experiment"), family("schemas"))


def metrics_key(experiment: str) -> str:
    family = functools.partial(registry.module_name, experiment)
    return code_version("repro.metrics.scoring", family("metrics"), family("schemas"))


def property_key(check: str) -> str:
    return code_version(registry.PROPERTIES[check].split(":")[0])


def decision_key() -> str:
    return code_version("repro.verdict")


def verdict_key() -> str:
    return code_version("repro.verdict", "repro.report", "repro.ledger")
