"""No architecture decision, and no architecture vocabulary, outside the profiles.

Every ``arch == "s390x"``-style decision belongs in ``src/zcompute/arch/``. This test parses
every other module of ``src/zcompute`` and fails on a comparison, membership test, ``match``
case or ``startswith``/``endswith`` against an architecture name, and on any ``if``/``elif``/
conditional expression whose test mentions one.

Per-architecture *facts* belong there too: an arch-keyed table (a dict literal with an
architecture name as a key, or ``dict(s390x=...)``) outside ``arch/`` is a decision table in
disguise, and a literal list of two or more architecture names is a second copy of the
architectures the profiles define (``zcompute.arch.ARCHES``). Both fail the scan.

Allow-list: only ``src/zcompute/arch/`` itself. ``src/zcompute/host/`` needs none: the IBM Z
cpuinfo parser reads a format and contains no architecture test, and the *decision* to use it
is the s390x profile's ``cpu_model_from_cpuinfo`` flag.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "zcompute"
ALLOWED_DIRS = (SRC / "arch",)
ARCH_WORDS = frozenset(
    {
        "s390x", "s390", "x86_64", "x86", "amd64", "i686", "i386", "aarch64", "arm64",
        "armv7l", "arm", "ppc64le", "ppc64el", "ppc64", "ppc",
    }
)  # fmt: skip


def _arch_literal(node: ast.AST) -> str | None:
    """The architecture name ``node`` is, or contains as a literal collection element."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if node.value.strip().lower() in ARCH_WORDS else None
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return next((lit for elt in node.elts if (lit := _arch_literal(elt))), None)
    return None


def _mentions_arch(node: ast.AST) -> str | None:
    return next((lit for sub in ast.walk(node) if (lit := _arch_literal(sub))), None)


def _arch_names(node: ast.AST) -> list[str]:
    """The architecture names among the literal elements of a tuple, list or set."""
    if not isinstance(node, ast.Tuple | ast.List | ast.Set):
        return []
    return [lit for elt in node.elts if (lit := _arch_literal(elt))]


def _table_key(node: ast.AST) -> str | None:
    """The architecture name keying ``node`` if it is a ``{...}`` or ``dict(...)`` table."""
    if isinstance(node, ast.Dict):
        return next((lit for key in node.keys if key and (lit := _arch_literal(key))), None)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return next((kw.arg for kw in node.keywords if kw.arg in ARCH_WORDS), None)
    return None


def arch_decisions(source: str, filename: str = "<src>") -> Iterator[tuple[int, str]]:
    """(line, what) for every architecture decision, table or name list in ``source``."""
    for node in ast.walk(ast.parse(source, filename)):
        if lit := _table_key(node):
            yield node.lineno, f"table keyed by {lit!r}"
        elif len(names := _arch_names(node)) >= 2:
            yield node.lineno, f"list of architectures {names}"
        elif isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                if lit := _arch_literal(operand):
                    yield node.lineno, f"comparison with {lit!r}"
        elif isinstance(node, ast.If | ast.IfExp | ast.While) and (
            lit := _mentions_arch(node.test)
        ):
            yield node.lineno, f"condition mentioning {lit!r}"
        elif isinstance(node, ast.match_case) and (lit := _mentions_arch(node.pattern)):
            yield node.pattern.lineno, f"match case {lit!r}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("startswith", "endswith")
            and any(_arch_prefix(arg) for arg in node.args)
        ):
            yield node.lineno, f"{node.func.attr} on an architecture name"


def _arch_prefix(node: ast.AST) -> bool:
    if isinstance(node, ast.Tuple):
        return any(_arch_prefix(elt) for elt in node.elts)
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and len(node.value) >= 3
        and any(word.startswith(node.value.lower()) for word in ARCH_WORDS)
    )


def _modules() -> list[Path]:
    return sorted(
        path
        for path in SRC.rglob("*.py")
        if not any(path.is_relative_to(allowed) for allowed in ALLOWED_DIRS)
    )


def test_no_arch_decisions_outside_the_profiles() -> None:
    offenders = [
        f"{path.relative_to(SRC.parent.parent)}:{line}: {what}"
        for path in _modules()
        for line, what in dict(arch_decisions(path.read_text(), str(path))).items()
    ]
    hint = "ask the profile instead (e.g. get_profile(arch).fc_transport, zcompute.arch.ARCHES)"
    assert offenders == [], f"decisions belong in src/zcompute/arch/; {hint}:\n" + "\n".join(
        offenders
    )


def test_the_scan_covers_the_host_package() -> None:
    scanned = {p.relative_to(SRC).parts[0] for p in _modules()}
    assert {"host", "cli", "virt"} <= scanned
    assert "arch" not in scanned


@pytest.mark.parametrize(
    "snippet",
    [
        'if arch == "s390x":\n    pass\n',
        'ok = guest.arch != "x86_64"\n',
        'if arch in ("aarch64", "ppc64le"):\n    pass\n',
        'if "s390" in host.arch:\n    pass\n',
        'x = 1 if a == "s390x" else 2\n',
        'match arch:\n    case "s390x":\n        pass\n',
        'if name.startswith("s390"):\n    pass\n',
        'while cpu_arch not in {"x86_64"}:\n    break\n',
    ],
)
def test_the_scan_catches_decisions(snippet: str) -> None:
    assert list(arch_decisions(snippet)), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        'PROFILES = {"s390x": 1}\n',
        'RECIPES = {"s390x": Recipe("s390x"), "x86_64": Recipe("amd64")}\n',
        'consoles = {**base, "aarch64": "ttyAMA0"}\n',
        "table = dict(s390x='sclp', x86_64='ttyS0')\n",
        'def f():\n    return {"ppc64le": "hvc0"}[arch]\n',
        'ARCHITECTURES = ("aarch64", "armv7l", "s390x")\n',
        'click.Choice(["s390x", "x86_64"])\n',
    ],
)
def test_the_scan_catches_arch_keyed_tables_and_name_lists(snippet: str) -> None:
    assert list(arch_decisions(snippet)), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "if arch == host_arch:\n    pass\n",
        'record = {"arch": "s390x", "machine": "s390-ccw-virtio"}\n',
        'click.option("--arch", default="s390x")\n',
        'Literal["isa", "pseries", "hyperv", "s390", "pvpanic"]\n',
        '"""A docstring mentioning x86_64=q35,s390x=s390-ccw-virtio."""\n',
        'if machine.startswith("pc-"):\n    pass\n',
        'profile = get_profile("s390x")\n',
    ],
)
def test_the_scan_allows_non_decisions(snippet: str) -> None:
    assert not list(arch_decisions(snippet)), snippet
