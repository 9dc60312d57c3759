"""The driver's public contract: explicit, complete, and all the CLI uses."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from zcompute.driver import Capabilities, ComputeAPI, ComputeDriver
from zcompute.driver._api import capabilities_of

CLI = Path(__file__).resolve().parents[3] / "src" / "zcompute" / "cli"


def _contract() -> set[str]:
    return {n for n in dir(ComputeAPI) if not n.startswith("_")} | set(ComputeAPI.__annotations__)


def test_the_driver_implements_every_operation_of_the_contract() -> None:
    for name in _contract():
        assert hasattr(ComputeDriver, name) or name in ComputeAPI.__annotations__, name
        if callable(getattr(ComputeAPI, name, None)):
            ours = inspect.signature(getattr(ComputeDriver, name))
            theirs = inspect.signature(getattr(ComputeAPI, name))
            assert list(ours.parameters) == list(theirs.parameters), name


def test_the_cli_calls_the_driver_only_through_the_contract() -> None:
    used: dict[str, list[str]] = {}
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "driver"
            ):
                used.setdefault(node.attr, []).append(f"{path.name}:{node.lineno}")
    outside = {name: where for name, where in used.items() if name not in _contract()}
    assert outside == {}


def test_capabilities_come_from_the_profiles_and_the_matrix() -> None:
    platforms = [("s390x", "qemu"), ("x86_64", "qemu"), ("aarch64", "qemu"), ("armv7l", "qemu")]
    caps = capabilities_of(platforms)
    assert isinstance(caps, Capabilities)
    assert caps.arches == ("s390x", "x86_64", "aarch64")  # no profile, no platform
    assert caps.supports("s390x", "trigger-crash-dump")
    assert caps.supports("s390x", "console-log")
    assert not caps.supports("aarch64", "trigger-crash-dump")  # the profile claims it missing
    assert not caps.supports("s390x", "vnc")  # a platform fact: no VNC on s390x
    assert not caps.supports("ppc64le", "launch")  # this host does not run it
