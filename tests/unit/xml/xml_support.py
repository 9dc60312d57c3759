"""Helpers of the XML layer's tests: golden files, canonical forms and libvirt checks."""

from __future__ import annotations

import os
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from zcompute.virt import Hypervisor, validate_domain_on_libvirt
from zcompute.xml import ChildList, Domain, MaybeChild, Os, XMLObject

GOLDEN = Path(__file__).resolve().parent / "golden"
QEMUXML = "libvirt-qemuxml"
TEST_URI = "test:///default"

# ZCOMPUTE_REGEN_GOLDEN=1 rewrites the *-out.xml files; review the diff before committing.
REGENERATE = os.environ.get("ZCOMPUTE_REGEN_GOLDEN") == "1"

_BLANKLESS = etree.XMLParser(remove_blank_text=True)
_KEEP_BLANKS = etree.XMLParser(remove_blank_text=False)


def c14n(xml: str | bytes, *, keep_blanks: bool = False) -> bytes:
    """Canonical XML (C14N); by default indentation-only text is not content."""
    data = xml.encode() if isinstance(xml, str) else xml
    parser = _KEEP_BLANKS if keep_blanks else _BLANKLESS
    return etree.tostring(etree.fromstring(data, parser), method="c14n")


def golden_in(name: str) -> str:
    return (GOLDEN / f"{name}-in.xml").read_text()


def assert_golden(name: str, xml: str) -> None:
    """``xml`` must equal ``golden/<name>-out.xml`` byte for byte (the output is stable)."""
    path = GOLDEN / f"{name}-out.xml"
    if REGENERATE:
        path.write_text(xml)
    expected = path.read_text()
    assert xml == expected, f"{path.name} differs; ZCOMPUTE_REGEN_GOLDEN=1 rewrites it"


def golden_outputs() -> list[Path]:
    return sorted(GOLDEN.glob("*-out.xml"))


def as_test_domain(xml: str, name: str) -> str:
    """The same document under a name and UUID of its own (test:///default predefines
    a domain called 'test', and names and UUIDs must be unique)."""
    dom = Domain.from_xml(xml)
    dom.name = f"zc-{name}"
    dom.uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, name))
    return dom.to_xml()


def define_and_dump(xml: str) -> str:
    """Define ``xml`` on test:///default with validation, return libvirt's own
    formatting of it (secrets included), and undefine it again."""
    validate_domain_on_libvirt(xml, TEST_URI)
    hv = Hypervisor(TEST_URI)
    try:
        dom = hv.conn.defineXML(xml)
        try:
            return str(dom.XMLDesc(VIR_DOMAIN_XML_SECURE))
        finally:
            dom.undefine()
    finally:
        hv.close()


# libvirt's flag for XMLDesc to include passwords (libvirt-python's constant; the value
# is part of libvirt's stable ABI)
VIR_DOMAIN_XML_SECURE = 1


def persistent_view(xml: str) -> etree._Element:
    """What libvirt keeps of ``xml`` in a persistent (inactive) definition.

    A running guest's XML carries state libvirt recomputes at start: device aliases,
    the backing chain's indexes, the pty a console got, dynamic security labels, the
    path of an auto-created channel socket and whether its agent is connected, a NIC's
    network port and tap name. Sizes are stored in KiB.
    """
    root = etree.fromstring(xml.encode(), _BLANKLESS)
    for el in list(root.iter("alias", "label", "imagelabel")):
        parent = el.getparent()
        if el.tag == "alias" or (parent is not None and parent.get("type") == "dynamic"):
            el.getparent().remove(el)  # type: ignore[union-attr]
    for el in root.iter("source", "backingStore"):
        el.attrib.pop("index", None)
    for dev in root.iter("console", "serial", "channel"):
        dev.attrib.pop("tty", None)
        target = dev.find("target")
        if dev.tag == "channel" and target is not None:
            target.attrib.pop("state", None)  # whether the guest's agent is connected
        source = dev.find("source")
        if source is not None and (
            dev.get("type") == "pty" or (dev.get("type") == "unix" and source.get("path") is None)
        ):
            dev.remove(source)
    for nic in root.iter("interface"):
        # the port a running NIC got on its network, and its auto-named tap device
        source, target = nic.find("source"), nic.find("target")
        if source is not None and nic.get("type") == "network":
            source.attrib.pop("portid", None)
            source.attrib.pop("bridge", None)
        if target is not None and (target.get("dev") or "").startswith("vnet"):
            nic.remove(target)
    dom = Domain._wrap(root)
    for field in ("memory_kib", "current_memory_kib"):
        value = getattr(dom, field)
        if value is not None:
            setattr(dom, field, value)
    return root


def _children(el: etree._Element) -> Iterator[etree._Element]:
    return (c for c in el if isinstance(c.tag, str))


def missing_in(ours: etree._Element, theirs: etree._Element, path: str = "") -> list[str]:
    """What ``ours`` states that ``theirs`` does not say the same way.

    libvirt may add elements and attributes (defaults, a console mirroring the first
    serial port), but everything we wrote must come back with the same value, and
    repeated elements in the same order.
    """
    here = f"{path}/{etree.QName(ours).localname}"
    problems = [
        f"{here}/@{key}={value!r} (libvirt: {theirs.get(key)!r})"
        for key, value in ours.items()
        if theirs.get(key) != value
    ]
    if (ours.text or "").strip() != (theirs.text or "").strip() and len(ours) == 0:
        problems.append(f"{here} text {ours.text!r} (libvirt: {theirs.text!r})")
    cursor: dict[object, int] = {}
    for child in _children(ours):
        candidates = [c for c in _children(theirs) if c.tag == child.tag]
        start = cursor.get(child.tag, 0)
        # the first of libvirt's remaining elements of this kind that says all ours says
        for index in range(start, len(candidates)):
            if not missing_in(child, candidates[index], here):
                cursor[child.tag] = index + 1
                break
        else:
            if start < len(candidates):
                problems.extend(missing_in(child, candidates[start], here))
            else:
                problems.append(f"{here}/{etree.QName(child).localname}[{start + 1}] dropped")
            cursor[child.tag] = start + 1
    return problems


def typed_view(obj: XMLObject) -> dict[str, object]:
    """Every declared field's value, read through the typed layer (children nested).

    Comparing the views of a built object and of its parsed output proves that each
    value survives writing and reading back, field by field.
    """
    view: dict[str, object] = {}
    for name, field in type(obj)._fields.items():
        value = getattr(obj, name)
        if isinstance(field, ChildList):
            view[name] = [typed_view(child) for child in value]
        elif isinstance(field, MaybeChild):
            present = value is not None and value.exists
            view[name] = typed_view(value) if present else None
        else:
            view[name] = value
    return view


def skeleton(name: str, arch: str = "s390x", machine: str = "s390-ccw-virtio") -> Domain:
    """A minimal complete domain to put devices in."""
    emulator = {"s390x": "s390x", "x86_64": "x86_64", "ppc64le": "ppc64"}[arch]
    dom = Domain(
        type="kvm",
        name=name,
        memory_kib=262144,
        vcpu=1,
        os=Os(type="hvm", arch=arch, machine=machine),
        on_poweroff="destroy",
        on_reboot="restart",
        on_crash="destroy",
    )
    dom.devices.emulator = f"/usr/bin/qemu-system-{emulator}"
    return dom
