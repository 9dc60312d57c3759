"""Ports attached to and detached from running guests through Nova's REST API, with tags.

The server boots with a tagged port; another port is hot-plugged with a tag through
``os-interface`` and unplugged again. The guest's boot report and hotplug messages, read back
through ``os-getConsoleOutput``, show each NIC by its MAC; the host's tap device goes with its
port. Nova's device metadata (what its metadata API serves) lists each tagged port: with its
PCI address on x86_64, without an address on s390x (Nova has no bus type for IBM Z's channel
subsystem; zcompute's config drive carries the CCW bus id, see tests/e2e/test_device_tags.py).
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from tests.e2e.nova.harness import NovaHarnessTest

BOOTED = "ZCOMPUTE-DEVICES-END"


class TestNovaInterfaces(NovaHarnessTest):
    def test_s390x_tagged_port_hot_plugged_and_unplugged(self) -> None:
        self._hotplug("s390x")

    def test_x86_64_tagged_port_hot_plugged_and_unplugged(self) -> None:
        self._hotplug("x86_64")

    def _hotplug(self, arch: str) -> None:
        image = self.upload_test_image(arch)
        net = self.neutron.network_1["id"]
        body = self._build_server(
            image_uuid=image, flavor_id=self.flavor(), networks=[{"uuid": net, "tag": "zc-boot"}]
        )
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        self.wait_console(server, BOOTED)
        boot_port = self.port_of(server)
        started = time.monotonic()
        attached = self.api.attach_interface(
            server["id"], {"interfaceAttachment": {"net_id": net, "tag": "zc-hot"}}
        ).body["interfaceAttachment"]
        mac, port_id = attached["mac_addr"], attached["port_id"]
        self.wait_console(server, f"ZCOMPUTE-NIC added name=eth1 mac={mac}")
        print(f"\n{arch}: port attach seen by the guest after {time.monotonic() - started:.2f} s")
        tap = "tap" + port_id[:11]
        assert self._link_exists(tap)
        tags = self._nova_device_tags(server)
        assert tags == {boot_port["mac_address"]: "zc-boot", mac: "zc-hot"}, tags
        self._check_addresses(server, arch)

        started = time.monotonic()
        self.api.detach_interface(server["id"], port_id)
        self.wait_console(server, "ZCOMPUTE-NIC removed name=eth1")
        print(f"{arch}: port detach seen by the guest after {time.monotonic() - started:.2f} s")
        self._wait_gone(tap)
        assert self._nova_device_tags(server) == {boot_port["mac_address"]: "zc-boot"}

        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server, [tap, "tap" + boot_port["id"][:11]]) == []

    # -- helpers ------------------------------------------------------------------------------

    def _device_metadata(self, server: dict[str, Any]) -> list[Any]:
        # imported here: Nova is imported after the harness patched its threading
        from nova import context as nova_context
        from nova import objects

        ctx = nova_context.get_admin_context()
        inst = objects.Instance.get_by_uuid(ctx, server["id"], expected_attrs=["device_metadata"])
        return list(inst.device_metadata.devices) if inst.device_metadata else []

    def _nova_device_tags(self, server: dict[str, Any]) -> dict[str, str]:
        return {d.mac: d.tags[0] for d in self._device_metadata(server)}

    def _check_addresses(self, server: dict[str, Any], arch: str) -> None:
        """Nova's address of each tagged NIC is zcompute's (PCI); none on s390x."""
        driver = self.computes["compute"].driver
        ours = {d.mac: d for d in driver.zc.device_metadata(server["id"])}
        for device in self._device_metadata(server):
            if arch == "s390x":
                assert "bus" not in device
                assert ours[device.mac].bus == "ccw"
            else:
                assert device.bus.address == ours[device.mac].address

    @staticmethod
    def _link_exists(name: str) -> bool:
        done = subprocess.run(["ip", "link", "show", name], capture_output=True)
        return done.returncode == 0

    def _wait_gone(self, tap: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self._link_exists(tap):
            assert time.monotonic() < deadline, f"tap {tap} still there"
            time.sleep(0.2)
