"""A declared field that no golden file holds a value for is a field nobody knows works.

The golden files are real XML: each ``*-in.xml`` is a document as libvirt writes it, each
``*-out.xml`` what a golden case writes, compared byte for byte and accepted by libvirt's
schema and test driver (test_xml_libvirt.py). These tests read every typed object in
them through its class and require, of every field declared in zcompute:

* some golden file holds a value for it (read through the field: not None, a flag that
  is set, a list that is not empty, a child element that exists);
* every such value survives the field's write path: written back, then removed (the
  field reads as absent) and written again, the field reads the same value and the
  document is what it was, libvirt's element order included.

They read the golden files themselves instead of watching the other tests run: nothing
runs twice and nothing is shared between pytest-xdist workers, so the check holds in
whichever worker it runs.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree
from tests.unit.xml.xml_support import GOLDEN

import zcompute.xml  # noqa: F401  (imports every class, so every field is declared)
from zcompute.xml import Domain, XMLObject
from zcompute.xml._children import ChildList, MaybeChild
from zcompute.xml._fields import ALL_FIELDS, AttrList, Field, Flag

FILES = sorted(GOLDEN.glob("*-in.xml")) + sorted(GOLDEN.glob("*-out.xml"))

#: Every field zcompute declares (a class defined elsewhere, say in a test, is not ours).
DECLARED = [
    f for f in ALL_FIELDS if f.owner is not None and f.owner.__module__.startswith("zcompute.")
]

# Fields whose element, removed and written again, comes back in another place among
# its siblings, and why that loses nothing.
REORDERED = {
    "KeyWrap.aes": "<cipher name='aes'> is re-created after <cipher name='dea'>; libvirt "
    "reads the ciphers in any order",
}


def _objects(obj: XMLObject) -> Iterator[XMLObject]:
    """``obj`` and every typed object below it (absent children are not created)."""
    yield obj
    for field in type(obj)._fields.values():
        if isinstance(field, ChildList):
            for child in field.read(obj):
                yield from _objects(child)
        elif isinstance(field, MaybeChild):
            child = field.read(obj)
            if child is not None:
                yield from _objects(child)


def _present(field: Field[Any], value: Any) -> bool:
    if isinstance(field, Flag):
        return value is True
    if isinstance(field, AttrList | ChildList):
        return bool(value)
    if isinstance(field, MaybeChild):
        return value is not None and bool(value.exists)
    return value is not None


def _absent(field: Field[Any]) -> Any:
    if isinstance(field, Flag):
        return False
    if isinstance(field, AttrList | ChildList):
        return []
    return None


def _values(path: Path) -> Iterator[tuple[int, str, Field[Any]]]:
    """(object's index in :func:`_objects`, field name, field) of every value present
    in one golden file."""
    for index, obj in enumerate(_objects(Domain.from_xml(path.read_text()))):
        for name, field in type(obj)._fields.items():
            if _present(field, getattr(obj, name)):
                yield index, name, field


def _document(obj: XMLObject) -> str:
    """The whole document in canonical form (attributes in a fixed order), indented."""
    canonical = etree.tostring(obj.element.getroottree(), method="c14n")
    return etree.tostring(etree.fromstring(canonical), encoding="unicode", pretty_print=True)


def _rewrite(obj: XMLObject, name: str, field: Field[Any], value: Any) -> str | None:
    """What goes wrong writing ``value`` back, removing it and writing it again."""
    setattr(obj, name, value)
    if (back := getattr(obj, name)) != value:
        return f"written back, it reads {back!r}, not {value!r}"
    before = _document(obj)  # after the first write (a size is now stated in KiB)
    setattr(obj, name, _absent(field))
    if _present(field, left := getattr(obj, name)):
        return f"removed, it still reads {left!r}"
    setattr(obj, name, value)
    if (again := getattr(obj, name)) != value:
        return f"written again, it reads {again!r}, not {value!r}"
    after = _document(obj)
    if after != before and field.qualname not in REORDERED:
        diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=1)
        return "written again, the document differs:\n" + "\n".join(list(diff)[2:12])
    return None


def test_every_declared_field_has_a_value_in_a_golden_file() -> None:
    assert len(FILES) > 30
    assert any(p.name.endswith("-in.xml") for p in FILES)
    assert len(DECLARED) > 200
    holding = {field for path in FILES for _index, _name, field in _values(path)}
    assert [f.qualname for f in DECLARED if f not in holding] == []


def test_every_golden_value_survives_its_field_being_written_removed_and_written_again() -> None:
    problems: list[str] = []
    checked: set[Field[Any]] = set()
    for path in FILES:
        document = Domain.from_xml(path.read_text())
        for index, name, field in _values(path):
            checked.add(field)
            # each value in a copy of its own: a reordered element must not spill over
            obj = list(_objects(document.copy()))[index]
            problem = _rewrite(obj, name, field, getattr(obj, name))
            if problem is not None:
                problems.append(f"{path.name}: {field.qualname}: {problem}")
    assert problems == []
    assert set(DECLARED) <= checked
    assert set(REORDERED) <= {f.qualname for f in checked}
