"""Element-level helpers: compiled paths, lookup, ordered creation and pruning.

Field paths are parsed once, when a class is defined, into tuples of steps; every access
then walks direct children with lxml's C iterators instead of compiling XPath.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

__all__ = [
    "Step",
    "ensure",
    "find_child",
    "insert_ordered",
    "parse_path",
    "position",
    "prune",
    "qualify",
    "walk",
]

#: One path step: (qualified tag, predicate attribute, predicate value).
Step = tuple[str, str | None, str | None]

_STEP = re.compile(r"^([A-Za-z_][\w.-]*)(?:\[@([A-Za-z_][\w.-]*)='([^']*)'\])?$")


def parse_path(path: str) -> tuple[tuple[Step, ...], str | None]:
    """Split ``"source/host/@name"`` into element steps and a trailing attribute.

    Supported forms: ``tag``, ``tag[@attr='value']``, ``@attr`` and ``.`` (the element
    itself); that is all libvirt's domain XML needs and it keeps lookups cheap.
    """
    parts = [p for p in path.strip().split("/") if p not in ("", ".")]
    attr: str | None = None
    if parts and parts[-1].startswith("@"):
        attr = parts.pop()[1:]
    steps: list[Step] = []
    for part in parts:
        match = _STEP.match(part)
        if match is None:
            raise ValueError(f"unsupported path step {part!r} in {path!r}")
        steps.append((match[1], match[2], match[3]))
    return tuple(steps), attr


def qualify(steps: tuple[Step, ...], namespace: str | None) -> tuple[Step, ...]:
    """Put every step's tag into ``namespace`` (Clark notation), if there is one."""
    if namespace is None:
        return steps
    return tuple((f"{{{namespace}}}{tag}", key, value) for tag, key, value in steps)


def find_child(el: etree._Element, step: Step) -> etree._Element | None:
    """The first direct child matching ``step``, or None."""
    tag, key, value = step
    if key is None:
        # a plain loop beats lxml's find() (which goes through ElementPath) several times
        for child in el.iterchildren(tag):
            return child
        return None
    for child in el.iterchildren(tag):
        if child.get(key) == value:
            return child
    return None


def walk(el: etree._Element, steps: tuple[Step, ...]) -> etree._Element | None:
    """Follow ``steps`` from ``el``; None as soon as one is missing."""
    node: etree._Element | None = el
    for step in steps:
        node = find_child(node, step)  # type: ignore[arg-type]  # loop exits on None
        if node is None:
            return None
    return node


def position(parent: etree._Element, tag: Any, order: Mapping[Any, int]) -> int | None:
    """Where a new child ``tag`` belongs among ``parent``'s children; None means append.

    After the last sibling that ranks at or before it (so a second ``<disk>`` lands
    after the first); with no such sibling, before the first ranked one. Unranked
    siblings (elements zcompute does not model) are never moved.
    """
    rank = order.get(tag)
    if rank is None:
        return None
    last = len(parent) - 1
    if last < 0:
        return None
    other = order.get(parent[last].tag)
    if other is not None and other <= rank:
        return None  # the common case when building in order: append
    for index in range(last - 1, -1, -1):
        other = order.get(parent[index].tag)
        if other is not None and other <= rank:
            return index + 1
    for index, sibling in enumerate(parent):
        if order.get(sibling.tag) is not None:
            return index
    return None


def insert_ordered(parent: etree._Element, child: etree._Element, order: Mapping[Any, int]) -> None:
    """Insert an existing ``child`` element where libvirt would write it."""
    index = position(parent, child.tag, order)
    if index is None:
        parent.append(child)
    else:
        parent.insert(index, child)


def ensure(
    el: etree._Element,
    steps: tuple[Step, ...],
    order: Mapping[Any, int],
    suborders: Mapping[str, Mapping[Any, int]] | None = None,
) -> etree._Element:
    """Follow ``steps`` from ``el``, creating what is missing in libvirt's order.

    ``order`` ranks the owner's direct children, ``suborders`` the children of one of
    them (keyed by its tag); deeper levels hold one or two elements and keep creation
    order.
    """
    node = el
    for depth, step in enumerate(steps):
        child = find_child(node, step) if len(node) else None
        if child is None:
            tag, key, value = step
            if depth == 0:
                table: Mapping[Any, int] | None = order
            elif depth == 1 and suborders:
                table = suborders.get(steps[0][0])
            else:
                table = None
            index = position(node, tag, table) if table and len(node) else None
            # SubElement inherits the parent's namespace prefixes; move it if needed
            child = etree.SubElement(node, tag)
            if key is not None:
                child.set(key, value or "")
            if index is not None:
                node.insert(index, child)
        node = child
    return node


def prune(node: etree._Element, stop: etree._Element) -> None:
    """Remove ``node`` and its ancestors below ``stop`` while they are left empty."""
    while node is not stop and len(node) == 0 and not node.attrib and not node.text:
        parent = node.getparent()
        if parent is None:
            return
        parent.remove(node)
        node = parent
