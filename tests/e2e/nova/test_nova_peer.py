"""Nova's own libvirt driver (the benchmarks' reference peer) in the same harness, same libvirtd.

The peer alone boots the s390x test image to ACTIVE, shows the test image's banner in
``os-getConsoleOutput`` and is deleted with nothing left on the host. Side by side (zcompute's
driver on one compute host, Nova's on another, as benchmarks/bench_nova.py runs them), one
guest each, the domain XMLs differ as documented: zcompute's has the sclplm log console that
carries the kernel's earliest lines, Nova's only the sclp pty console.
"""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.nova.harness import NovaHarnessTest, PeerHarnessTest, SideBySideHarnessTest

READY = "ZCOMPUTE-GUEST-READY"


def _boot(test: NovaHarnessTest, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    server = test.wait_status(test.api.post_server({"server": body}), "ACTIVE")
    text = test.wait_console(server, f"{READY} arch=s390x")
    assert "Linux version" in text
    return server, test.domain_xml(server)


def _delete(test: NovaHarnessTest, server: dict[str, Any]) -> None:
    test.api.delete_server(server["id"])
    test.wait_deleted(server)
    assert test.host_leftovers(server) == []


def _assert_nova_s390x_xml(xml: str, acpi_dropped: bool) -> None:
    # a pty console on sclp with a log, no sclplm console, no watchdog, no USB;
    # <acpi/> unless libvirt refused it (libvirt 11.3 / QEMU 10.0 do)
    assert re.search(r"<console type='pty'[^>]*>.*?<log .*?<target type='sclp'", xml, re.S)
    assert "sclplm" not in xml
    assert "<watchdog" not in xml
    assert "<controller type='usb' index='0' model='none'>" in xml
    assert ("<acpi/>" in xml) is not acpi_dropped


class TestNovaPeer(PeerHarnessTest):
    def test_s390x_boot_banner_and_delete_with_novas_libvirt_driver(self) -> None:
        image = self.upload_test_image("s390x")
        body = self._build_server(image_uuid=image, flavor_id=self.flavor(), networks="none")
        server, xml = _boot(self, body)
        driver = self.computes["compute"].driver
        assert type(driver).__module__ == "nova.virt.libvirt.driver"
        assert driver.list_instance_uuids() == [server["id"]]
        _assert_nova_s390x_xml(xml, self.acpi_dropped)
        _delete(self, server)
        assert driver.list_instance_uuids() == []


class TestSideBySide(SideBySideHarnessTest):
    def test_s390x_xml_differences_zcompute_and_nova(self) -> None:
        image = self.upload_test_image("s390x")
        flavor = self.flavor()
        zc, zc_xml = _boot(self, self.server_body("zcompute", image, flavor))
        peer, peer_xml = _boot(self, self.server_body("nova-libvirt", image, flavor))
        assert self.api.get_server(zc["id"])["OS-EXT-SRV-ATTR:host"] == "compute"
        assert self.api.get_server(peer["id"])["OS-EXT-SRV-ATTR:host"] == "peer"
        # each driver lists only its own guest
        assert self.computes["compute"].driver.list_instance_uuids() == [zc["id"]]
        assert self.computes["peer"].driver.list_instance_uuids() == [peer["id"]]
        # zcompute: the sclplm log console (the kernel's earliest lines), no ACPI
        assert re.search(r"<console type='file'>.*?<target type='sclplm'", zc_xml, re.S)
        assert "<acpi/>" not in zc_xml
        _assert_nova_s390x_xml(peer_xml, self.acpi_dropped)
        for server in (zc, peer):
            _delete(self, server)
