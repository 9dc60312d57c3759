"""Imports run one way, as the README draws the layers, and no package reaches into another's
private modules. Every import counts: at module level, inside functions and behind
``TYPE_CHECKING`` (a cycle there is still a cycle in the design)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "zcompute"

#: Lowest first. A package may import its own modules and those of lower layers; packages of
#: one layer may import each other only without a cycle. (xml -> host -> arch -> plan/builder
#: -> virt -> driver -> nova/cli, with the storage packages and the vocabulary in between.)
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "_faults", "config"),
    ("xml",),
    ("host",),
    ("arch",),
    ("_checks",),
    ("_devicespecs", "model", "properties"),
    ("state", "volumes"),
    ("images", "configdrive"),
    ("testimage", "plan", "builder"),
    ("virt",),
    ("hostreport", "driver"),
    ("cli", "nova"),
)
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}


def _package_of(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0] if parts[0] != "__init__" else "__init__"


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """(imported dotted name, line) of every zcompute import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("zcompute"):
                for alias in node.names:
                    yield f"{node.module}.{alias.name}", node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("zcompute"):
                    yield alias.name, node.lineno


def _edges() -> Iterator[tuple[str, str, str, Path, int]]:
    """(importer package, imported package, imported name, file, line)."""
    for path in sorted(SRC.rglob("*.py")):
        source = _package_of(path)
        for name, line in _imports(path):
            parts = name.split(".")
            if len(parts) < 2:
                continue
            target = parts[1]
            yield source, target, name, path, line


def test_every_package_has_a_layer() -> None:
    packages = {_package_of(p) for p in SRC.rglob("*.py")} - {"__init__"}
    assert packages - set(RANK) == set(), "add the new package to LAYERS"


def test_imports_go_down_the_layers() -> None:
    wrong = [
        f"{path.relative_to(SRC)}:{line}: {source} imports {name} (a higher layer)"
        for source, target, name, path, line in _edges()
        if source in RANK and target in RANK and RANK[target] > RANK[source]
    ]
    assert wrong == []


def test_no_package_imports_another_ones_private_modules() -> None:
    wrong = [
        f"{path.relative_to(SRC)}:{line}: {name}"
        for source, target, name, path, line in _edges()
        if source != target and len(name.split(".")) > 3 and name.split(".")[2].startswith("_")
    ]
    assert wrong == []


def test_packages_of_one_layer_form_no_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for source, target, *_ in _edges():
        if source != target and source in RANK and target in RANK:
            graph.setdefault(source, set()).add(target)
    for start in graph:
        seen, stack = set(), list(graph.get(start, ()))
        while stack:
            node = stack.pop()
            if node == start:
                pytest.fail(f"import cycle through {start}")
            if node not in seen:
                seen.add(node)
                stack.extend(graph.get(node, ()))
