"""The ``feature`` marker of the end-to-end tests, the only source of the matrix's "tested on".

``@pytest.mark.feature("reboot", "pause")`` on a test that boots a real guest says: this test
exercises these support-matrix features on a guest of its architecture, which is the test's
``arch`` parameter or the marker's ``arch=``. The marker is read two ways:

* :func:`scan` reads the test files' syntax (nothing is imported, libvirt is not needed). The
  unit test ``tests/unit/arch/test_arch_tested.py`` compares it with the generated table
  ``src/zcompute/arch/_tested.py``, which this module writes when run:
  ``.venv/bin/python -m tests.e2e.feature_markers``.
  Whatever the scan cannot read for certain (an ``arch`` that is not a literal, a skipped
  test) is an error, never a guess.
* :func:`item_claims` reads a collected test; the e2e conftest checks at collection that
  pytest's view matches the scan, and while the test runs (:func:`verify_exercised`) that it
  really asked a profile of that architecture for each feature it claims: every driver
  operation goes through its profile's ``require`` (``zcompute.driver._features``).
"""

from __future__ import annotations

import ast
import contextlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

from zcompute.arch import ARCHES, FEATURES, ArchProfile, Claim

__all__ = [
    "E2E_DIR",
    "GENERATED",
    "MarkerError",
    "arches_by_feature",
    "check_collected",
    "item_claims",
    "render_module",
    "scan",
    "verify_exercised",
    "write_module",
]

E2E_DIR = Path(__file__).resolve().parent
GENERATED = E2E_DIR.parents[1] / "src" / "zcompute" / "arch" / "_tested.py"
MARKER = "feature"
FEATURE_KEYS = frozenset(f.key for f in FEATURES)
_SKIPPING = frozenset({"skip", "skipif", "xfail"})

#: (feature, arch) -> the tests ("file.py::test_name") that claim it
Claims = dict[tuple[str, str], list[str]]


class MarkerError(ValueError):
    """A ``feature`` marker that does not say for certain what it claims."""


# -- reading the files -----------------------------------------------------------------------


def scan(directory: Path = E2E_DIR) -> Claims:
    """Every (feature, arch) the ``feature`` markers of ``directory``'s test files claim."""
    claims: Claims = {}
    for path in sorted(directory.glob("test_*.py")):
        for test, pairs in _file_claims(path).items():
            for pair in sorted(pairs):
                claims.setdefault(pair, []).append(f"{path.name}::{test}")
    return claims


def _file_claims(path: Path) -> dict[str, set[tuple[str, str]]]:
    tree = ast.parse(path.read_text(), str(path))
    out: dict[str, set[tuple[str, str]]] = {}
    for node in ast.walk(tree):
        if _marks_module(node):
            raise MarkerError(f"{path.name}:{node.lineno}: mark each test, not the module")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            pairs = _function_claims(path, node)
            if pairs:
                out[node.name] = pairs
    return out


def _marks_module(node: ast.AST) -> bool:
    """``pytestmark = ... pytest.mark.feature ...``: a marker the scan would not place."""
    return (
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
        and any(_mark_name(sub) == MARKER for sub in ast.walk(node.value))
    )


def _mark_name(node: ast.AST) -> str | None:
    """``x`` for ``pytest.mark.x`` and ``pytest.mark.x(...)``."""
    if isinstance(node, ast.Call):
        node = node.func
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "pytest"
    ):
        return node.attr
    return None


def _function_claims(
    path: Path, func: ast.FunctionDef | ast.AsyncFunctionDef
) -> set[tuple[str, str]]:
    where = f"{path.name}:{func.lineno} {func.name}"
    marks = [(d, _mark_name(d)) for d in func.decorator_list]
    features = [d for d, name in marks if name == MARKER]
    if not features:
        return set()
    if skipping := [name for _, name in marks if name in _SKIPPING]:
        raise MarkerError(f"{where}: a test marked {skipping[0]} tests nothing it could claim")
    params = [_arch_values(where, d) for d, name in marks if name == "parametrize"]
    param_arches = next((values for values in params if values is not None), None)
    pairs: set[tuple[str, str]] = set()
    for mark in features:
        keys, arch = _feature_args(where, mark)
        if (arch is None) == (param_arches is None):
            raise MarkerError(f"{where}: give the arch either as arch= or as an 'arch' parameter")
        pairs |= {(key, a) for key in keys for a in ([arch] if arch else param_arches or [])}
    return pairs


def _feature_args(where: str, mark: ast.expr) -> tuple[list[str], str | None]:
    if not isinstance(mark, ast.Call) or not mark.args:
        raise MarkerError(f"{where}: name the features, e.g. @pytest.mark.feature('reboot')")
    keys = [_literal(where, arg) for arg in mark.args]
    arch = None
    for keyword in mark.keywords:
        if keyword.arg != "arch":
            raise MarkerError(f"{where}: the feature marker takes only arch=")
        arch = _literal(where, keyword.value)
    for key in keys:
        _check(where, key, FEATURE_KEYS, "feature")
    if arch is not None:
        _check(where, arch, ARCHES, "arch")
    return keys, arch


def _arch_values(where: str, mark: ast.expr) -> list[str] | None:
    """The arches of ``@pytest.mark.parametrize("arch", [...])``; None for other names."""
    if not isinstance(mark, ast.Call) or not mark.args:
        return None
    names = mark.args[0]
    if not (isinstance(names, ast.Constant) and isinstance(names.value, str)):
        raise MarkerError(f"{where}: write parametrize's names as one string literal")
    if "arch" not in [n.strip() for n in names.value.split(",")]:
        return None
    values = mark.args[1] if len(mark.args) > 1 else None
    if names.value.strip() != "arch" or not isinstance(values, ast.List | ast.Tuple):
        raise MarkerError(f"{where}: parametrize 'arch' alone, over a literal list")
    arches = [_literal(where, v) for v in values.elts]
    for arch in arches:
        _check(where, arch, ARCHES, "arch")
    return arches


def _literal(where: str, node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    raise MarkerError(f"{where}: {ast.unparse(node)} is not a string literal")


def _check(where: str, value: str, known: Iterable[str], what: str) -> None:
    if value not in known:
        raise MarkerError(f"{where}: unknown {what} {value!r} (known: {', '.join(known)})")


# -- the generated table ---------------------------------------------------------------------


def arches_by_feature(claims: Claims) -> dict[str, tuple[str, ...]]:
    """feature -> the arches it is tested on, in matrix order; features in matrix order."""
    out = {}
    for feature in FEATURES:
        arches = tuple(a for a in ARCHES if (feature.key, a) in claims)
        if arches:
            out[feature.key] = arches
    return out


_HEAD = '''"""Which features an end-to-end test exercises on a real guest of which architecture.

Generated from the ``@pytest.mark.feature`` markers of tests/e2e; do not edit. Regenerate with
``.venv/bin/python -m tests.e2e.feature_markers`` (tests/unit/arch/test_arch_tested.py fails
while this table and the markers disagree).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["TESTED_ON"]

TESTED_ON: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
'''


def render_module(claims: Claims) -> str:
    """The text of ``src/zcompute/arch/_tested.py`` for ``claims`` (as ruff formats it)."""
    lines = [f"        {_string(k)}: {_tuple(v)}," for k, v in arches_by_feature(claims).items()]
    return _HEAD + "\n".join(lines) + "\n    }\n)\n"


def _string(text: str) -> str:
    return json.dumps(text)


def _tuple(values: tuple[str, ...]) -> str:
    inner = ", ".join(_string(v) for v in values)
    return f"({inner},)" if len(values) == 1 else f"({inner})"


# -- the collected tests ---------------------------------------------------------------------


def item_claims(item: pytest.Item) -> set[tuple[str, str]]:
    """The (feature, arch) pairs a collected test claims (pytest's view of its markers)."""
    params: Mapping[str, object] = getattr(getattr(item, "callspec", None), "params", {})
    pairs = set()
    for mark in item.iter_markers(MARKER):
        arch = mark.kwargs.get("arch", params.get("arch"))
        if not isinstance(arch, str):
            raise pytest.UsageError(f"{item.nodeid}: the feature marker needs an arch")
        pairs |= {(str(key), arch) for key in mark.args}
    return pairs


def check_collected(items: Iterable[pytest.Item]) -> None:
    """Refuse a collection where pytest reads a marker differently from :func:`scan`."""
    scanned: dict[str, set[tuple[str, str]]] = {}
    for path in {item.path for item in items if item.path.parent == E2E_DIR}:
        try:
            claims = _file_claims(path)
        except MarkerError as err:
            raise pytest.UsageError(str(err)) from None
        scanned |= {f"{path.name}::{test}": pairs for test, pairs in claims.items()}
    for item in items:
        name = getattr(item, "originalname", item.name)
        extra = item_claims(item) - scanned.get(f"{item.path.name}::{name}", set())
        if extra:
            raise pytest.UsageError(f"{item.nodeid}: the scan does not see its claims {extra}")


@contextlib.contextmanager
def verify_exercised(item: pytest.Item) -> Iterator[None]:
    """Around a test's call: fail it if it claims a feature it never asked a profile for."""
    claimed = item_claims(item)
    if not claimed:
        yield
        return
    asked: set[tuple[str, str]] = set()
    require = ArchProfile.require

    def recording(profile: ArchProfile, key: str) -> Claim:
        asked.add((key, profile.arch))
        return require(profile, key)

    ArchProfile.require = recording  # type: ignore[method-assign]
    try:
        yield
    finally:
        ArchProfile.require = require  # type: ignore[method-assign]
    never = sorted(claimed - asked)
    assert not never, (
        f"marked @pytest.mark.feature but never exercised (no driver operation or plan asked "
        f"the profile for them): {never}"
    )


def write_module(target: Path = GENERATED) -> None:
    """Regenerate ``target`` (it is imported by this very module: never truncated first)."""
    text = render_module(scan())
    temporary = target.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(target)
    sys.stdout.write(f"wrote {target}\n")


if __name__ == "__main__":
    write_module()
