"""The XML layer round-trips libvirt's own live XML of running guests, and edits stay local."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.e2e.conftest import TINY, imported_test_image
from zcompute.driver import ComputeDriver
from zcompute.xml import Domain

_PARSER = etree.XMLParser(remove_blank_text=True)


def _c14n(xml: str) -> bytes:
    # Indentation is not content: compare the canonical form of the blank-free tree.
    return etree.tostring(etree.fromstring(xml.encode(), _PARSER), method="c14n")


@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_live_dumpxml_round_trips_and_edits_are_local(
    driver: ComputeDriver, arch: str, guest_name: str
) -> None:
    inst = driver.spawn(guest_name, imported_test_image(driver, arch), TINY.name)
    try:
        live = driver.domain_xml(inst.name)
        dom = Domain.from_xml(live)
        assert _c14n(dom.to_xml()) == _c14n(live)

        # One typed edit changes exactly one attribute; everything else, modelled or not
        # (seclabel, resource partition, aliases, audio), survives untouched.
        dom.devices.memballoon.stats_period = 10
        edited = etree.fromstring(dom.to_xml().encode(), _PARSER)
        stats = edited.find("devices/memballoon/stats")
        assert stats is not None
        assert stats.get("period") == "10"
        stats.getparent().remove(stats)
        assert etree.tostring(edited, method="c14n") == _c14n(live)
        assert edited.find("seclabel") is not None
        assert edited.find("resource/partition") is not None
    finally:
        driver.destroy(inst.uuid)
