"""Image properties are one vocabulary: what zcompute checks is exactly what it reads.

:data:`zcompute.properties.IMAGE_PROPERTIES` declares each property once (key, allowed values,
readers). These tests hold the declarations to the sources: every declared property is read
where it says, every ``hw_*`` key in the sources is declared, and each declared key is spelt
out once, in its declaration.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import zcompute.properties
from zcompute.arch import ARCHES, WATCHDOG_ACTIONS
from zcompute.errors import InvalidInput
from zcompute.model import (
    IMAGE_PROPERTIES,
    Flavor,
    validate_extra_specs,
    validate_image_properties,
)
from zcompute.properties import ImageProperty

SRC = Path(zcompute.properties.__file__).parent
#: What a Nova hardware property key looks like (``os_type`` is also a libvirt element name).
PROPERTY_KEY = re.compile(r"hw_[a-z0-9_]+")
#: Nova properties zcompute once checked but never read; now kept as given.
UNREAD = (
    "hw_cdrom_bus",
    "hw_firmware_type",
    "hw_video_model",
    "hw_rng_model",
    "hw_boot_menu",
    "hw_serial_port_count",
)


def _string_constants(path: Path) -> list[tuple[str, int]]:
    """Every string literal of a module but its docstrings, with its line."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and (body := node.body)
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    }
    return [
        (node.value, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def _names_bound_to(key: str) -> set[str]:
    """The module-level names the vocabulary binds to ``key`` (e.g. ``DISK_BUS_PROPERTY``)."""
    return {
        name for name, value in vars(zcompute.properties).items() if name.isupper() and value == key
    }


@pytest.mark.parametrize("prop", list(IMAGE_PROPERTIES.values()), ids=lambda p: p.key)
def test_every_declared_property_is_read_where_its_declaration_says(prop: ImageProperty) -> None:
    names = _names_bound_to(prop.key)
    assert names, f"{prop.key} has no constant in zcompute.properties"
    assert prop.read_by, f"{prop.key} names no reader"
    for module in prop.read_by:
        path = SRC.joinpath(*module.split(".")).with_suffix(".py")
        assert path.is_file(), f"{prop.key}: reader {module} does not exist"
        source = path.read_text()
        assert any(re.search(rf"\b{name}\b", source) for name in names), (
            f"{prop.key}: zcompute.{module} does not read it (by {' or '.join(sorted(names))})"
        )


def test_every_property_key_in_the_sources_is_declared_and_spelt_out_once() -> None:
    spelt: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        for text, line in _string_constants(path):
            if text in IMAGE_PROPERTIES or PROPERTY_KEY.fullmatch(text):
                spelt.setdefault(text, []).append(f"{path.relative_to(SRC)}:{line}")
    undeclared = {key: where for key, where in spelt.items() if key not in IMAGE_PROPERTIES}
    assert undeclared == {}, "declare read properties in zcompute/properties.py"
    repeated = {key: where for key, where in spelt.items() if len(where) > 1}
    assert repeated == {}, "import the property's constant instead of spelling it out"
    assert set(spelt) == set(IMAGE_PROPERTIES)


def test_choices_come_from_their_vocabularies() -> None:
    assert IMAGE_PROPERTIES["hw_architecture"].allowed == ARCHES
    assert IMAGE_PROPERTIES["hw_watchdog_action"].allowed == ("disabled", *WATCHDOG_ACTIONS)


@pytest.mark.parametrize("key", UNREAD)
def test_properties_nothing_reads_are_kept_as_given(key: str) -> None:
    assert key not in IMAGE_PROPERTIES
    odd = {key: "anything at all"}
    assert dict(validate_image_properties(odd)) == odd
    assert dict(Flavor("f", 1, 256, 1, odd).extra_specs) == odd


def test_properties_only_zcompute_writes_are_image_properties_not_extra_specs() -> None:
    own = {p.key for p in IMAGE_PROPERTIES.values() if not p.flavor}
    assert own == {"kernel_id", "zcompute_testimage_key"}
    for key in own:
        assert dict(validate_extra_specs({key: "x y"})) == {key: "x y"}
        assert dict(validate_image_properties({key: "a name or id"})) == {key: "a name or id"}
        with pytest.raises(InvalidInput) as info:
            validate_image_properties({key: "line\nbreak"})
        assert info.value.field == key


def test_an_armv7l_image_property_is_refused_naming_the_architectures() -> None:
    with pytest.raises(InvalidInput) as info:
        validate_image_properties({"hw_architecture": "armv7l"})
    assert info.value.field == "hw_architecture"
    assert info.value.allowed == ", ".join(ARCHES)


def test_a_declaration_is_a_choice_exactly_when_it_lists_values() -> None:
    with pytest.raises(ValueError, match="allowed values"):
        ImageProperty("hw_x", ("plan",))
    with pytest.raises(ValueError, match="allowed values"):
        ImageProperty("hw_x", ("plan",), ("a",), form="name")
