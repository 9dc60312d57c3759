"""Every golden output is checked by libvirt twice: its RelaxNG schema and the test driver.

About test:///default (libvirt 9.0 here): it accepts any domain type (kvm, qemu, test)
and any architecture, including s390x with ccw addresses, sclp consoles, diag288,
vfio-ccw/vfio-ap mdevs and launchSecurity s390-pv. It runs libvirt's generic parser
and validator (with VIR_DOMAIN_DEFINE_VALIDATE also the schema) but none of the QEMU
driver's checks (machine types, per-arch device support such as ACPI on s390x). So the
strongest honest check here is: the schema accepts the document, the test driver defines
it, and libvirt's own re-formatting of it keeps every value zcompute wrote.
"""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from tests.unit.xml.xml_support import (
    GOLDEN,
    as_test_domain,
    c14n,
    define_and_dump,
    golden_outputs,
    missing_in,
    persistent_view,
)

from zcompute.errors import SchemaError
from zcompute.virt import Hypervisor
from zcompute.xml import DOMAIN_SCHEMA, Choice, Domain, validate_schema
from zcompute.xml._fields import ALL_FIELDS, Scalar, Text

OUTPUTS = golden_outputs()
IDS = [p.name.removesuffix("-out.xml") for p in OUTPUTS]

# What libvirt normalises on define, so our value and its differ without a change in
# meaning: a loadparm is stored upper-case.
NORMALISED = {("boot", "loadparm")}


@pytest.mark.parametrize("path", OUTPUTS, ids=IDS)
def test_golden_output_matches_libvirt_schema(path: Path) -> None:
    validate_schema(path.read_text())
    validate_schema(Domain.from_xml(path.read_text()))


@pytest.mark.parametrize("path", OUTPUTS, ids=IDS)
def test_golden_output_is_defined_by_libvirt_which_keeps_every_value(path: Path) -> None:
    ours = as_test_domain(path.read_text(), path.name)
    theirs = define_and_dump(ours)
    problems = [
        p
        for p in missing_in(persistent_view(ours), etree.fromstring(theirs.encode()))
        if not any(f"/{tag}/@{attr}=" in p for tag, attr in NORMALISED)
    ]
    assert problems == []
    # and the layer reads libvirt's formatting of it back without loss
    assert c14n(Domain.from_xml(theirs).to_xml(), keep_blanks=True) == c14n(
        theirs, keep_blanks=True
    )


def test_golden_outputs_are_numerous_and_cover_both_architectures() -> None:
    texts = [p.read_text() for p in OUTPUTS]
    assert len(texts) >= 20
    assert any('arch="s390x"' in t for t in texts)
    assert any('arch="x86_64"' in t for t in texts)


def test_test_driver_dumpxml_round_trips_exactly() -> None:
    """libvirt's own XMLDesc of its predefined running domain: same canonical form,
    whitespace included (only the quote style of attributes differs)."""
    hv = Hypervisor("test:///default")
    try:
        live = str(hv.conn.lookupByName("test").XMLDesc(0))
    finally:
        hv.close()
    dom = Domain.from_xml(live)
    assert dom.id == 1
    assert dom.type == "test"
    assert c14n(dom.to_xml(), keep_blanks=True) == c14n(live, keep_blanks=True)
    assert dom.to_xml().replace('"', "'") == live


def test_schema_error_carries_libvirts_message_and_the_offending_path() -> None:
    dom = Domain.from_xml(OUTPUTS[0].read_text())
    # an element the schema does not know, added behind the typed layer's back
    etree.SubElement(dom.element, "bogus")
    with pytest.raises(SchemaError) as info:
        validate_schema(dom)
    assert "Element domain has extra content: bogus (at /domain/bogus)" in str(info.value)
    assert "invalid on its own" not in str(info.value)


def test_schema_error_names_the_device_libxml2_does_not() -> None:
    """libxml2 only says "Extra element devices in interleave"; the error names the disk."""
    dom = Domain.from_xml((GOLDEN / "s390x-guest-out.xml").read_text())
    iotune = dom.devices.disks[1].iotune
    iotune.total_bytes_sec = 1
    iotune.read_bytes_sec = 1  # libvirt allows a total or per-direction limits, not both
    with pytest.raises(SchemaError) as info:
        validate_schema(dom)
    assert info.value.field == "/domain/devices/disk[2]"
    assert "Extra element devices in interleave" in str(info.value)
    assert str(info.value).endswith("invalid on its own: /domain/devices/disk[2]")


def test_libvirt_rejection_is_a_schema_error() -> None:
    from zcompute.virt import validate_domain_on_libvirt

    xml = as_test_domain(OUTPUTS[0].read_text(), "reject")
    bad = xml.replace("<on_crash>", "<on_crash>x", 1)
    with pytest.raises(SchemaError):
        validate_domain_on_libvirt(bad)


def test_schema_file_missing_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="cannot be read"):
        validate_schema(OUTPUTS[0].read_text(), tmp_path / "domain.rng")


def test_malformed_text_is_an_xml_error_not_a_schema_error() -> None:
    from zcompute.errors import XMLError

    with pytest.raises(XMLError, match="malformed"):
        validate_schema("<domain")


# -- the closed value sets agree with libvirt's schema --------------------------------

# Attributes libvirt's schema leaves open while its parser takes a closed set.
SCHEMA_OPEN = {
    "CharDevice.source_mode": "<source mode> is any text in the schema; libvirt's parser "
    "takes bind and connect",
}

# Values libvirt accepts only after the 9.0 schema installed here.
NEWER_THAN_INSTALLED_SCHEMA = {
    "itco": "watchdog model, libvirt 9.2",
    "luks-any": "disk encryption format, newer than Debian 12's libvirt 9.0",
    "pvpanic": "panic model, libvirt 9.1",
    "qxl": "video model written as <model type='qxl'>; 9.0 lists it in a separate group",
}


def _schema_values() -> dict[tuple[str, str], set[str]]:
    """Every <value> of the schema, keyed by (attribute|element, name) it belongs to."""
    found: dict[tuple[str, str], set[str]] = {}
    rng = "{http://relaxng.org/ns/structure/1.0}"
    for path in DOMAIN_SCHEMA.parent.glob("*.rng"):
        for value in etree.parse(str(path)).iter(f"{rng}value"):
            owner: Any = value.getparent()
            while owner is not None and owner.tag not in (f"{rng}attribute", f"{rng}element"):
                if owner.tag == f"{rng}define":
                    owner = None
                    break
                owner = owner.getparent()
            if owner is not None:
                kind = "attr" if owner.tag.endswith("attribute") else "elem"
                found.setdefault((kind, owner.get("name")), set()).add((value.text or "").strip())
    # values reached through <ref> to a define (e.g. offOptions) belong to whoever refers
    defines = {}
    for path in DOMAIN_SCHEMA.parent.glob("*.rng"):
        for define in etree.parse(str(path)).iter(f"{rng}define"):
            values = {(v.text or "").strip() for v in define.iter(f"{rng}value")}
            defines.setdefault(define.get("name"), set()).update(values)
    for path in DOMAIN_SCHEMA.parent.glob("*.rng"):
        for ref in etree.parse(str(path)).iter(f"{rng}ref"):
            owner = ref.getparent()
            while owner is not None and owner.tag not in (f"{rng}attribute", f"{rng}element"):
                owner = owner.getparent()
            if owner is not None and ref.get("name") in defines:
                kind = "attr" if owner.tag.endswith("attribute") else "elem"
                found.setdefault((kind, owner.get("name")), set()).update(defines[ref.get("name")])
    return found


def test_every_enum_value_is_one_libvirts_schema_knows() -> None:
    schema = _schema_values()
    unknown = []
    checked = 0
    for field in ALL_FIELDS:
        conv = getattr(field, "conv", None)
        if not isinstance(field, Scalar) or not isinstance(conv, Choice):
            continue
        if field.attr is not None:
            key = ("attr", field.attr)
        else:
            assert isinstance(field, Text)
            key = ("elem", field.steps[-1][0])
        if field.qualname in SCHEMA_OPEN:
            continue
        for value in sorted(conv.values):
            checked += 1
            if value not in schema.get(key, set()) and value not in NEWER_THAN_INSTALLED_SCHEMA:
                unknown.append(f"{field.qualname} ({key[1]}): {value}")
    assert checked > 200
    assert unknown == []


def test_newer_values_are_still_typed_and_written() -> None:
    from zcompute.xml import Panic, Watchdog

    assert Watchdog(model="itco", action="reset").to_xml() == (
        '<watchdog model="itco" action="reset"/>\n'
    )
    assert Panic(model="pvpanic").model == "pvpanic"


def test_unique_names_keep_test_driver_defines_independent() -> None:
    xml = OUTPUTS[0].read_text()
    a, b = as_test_domain(xml, "one"), as_test_domain(xml, "two")
    assert Domain.from_xml(a).uuid != Domain.from_xml(b).uuid
    assert Domain.from_xml(a).uuid == str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "one"))
