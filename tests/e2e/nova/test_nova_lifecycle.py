"""Guests booted, run and deleted through Nova's REST API, with zcompute's real driver.

Each test boots the architecture's test image (kernel and initramfs served by Nova's Glance
fixture as an ``ami`` with ``kernel_id``/``ramdisk_id``) on this machine's libvirtd under TCG,
and checks every step by what the guest itself reports on its log console, read back through
Nova's ``os-getConsoleOutput``: the kernel's first lines and the test image's boot report.
"""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.nova.harness import NovaHarnessTest

READY = "ZCOMPUTE-GUEST-READY"
BOOTED = "ZCOMPUTE-DEVICES-END"


class TestNovaLifecycle(NovaHarnessTest):
    def test_s390x_every_power_operation_snapshot_and_delete(self) -> None:
        self._lifecycle("s390x")

    def test_x86_64_every_power_operation_snapshot_and_delete(self) -> None:
        self._lifecycle("x86_64")

    def _lifecycle(self, arch: str) -> None:
        image = self.upload_test_image(arch)
        flavor = self.flavor()
        network = {"uuid": self.neutron.network_1["id"]}
        server = self.boot(image, flavor, networks=[network])
        text = self.wait_console(server, f"{READY} arch={arch}")
        assert "Linux version" in text
        if arch == "s390x":  # the sclplm log console has the kernel's very first lines
            assert text.index("Linux version") < text.index(READY)
        text = self.wait_console(server, BOOTED)
        # the port Neutron bound as a tap VIF: the guest sees its MAC, the host its tap device
        # with the network's MTU, and the tap goes with the server
        port = self.port_of(server)
        tap = "tap" + port["id"][:11]
        assert f"mac={port['mac_address']}" in text
        assert self.link_mtu(tap) == self.neutron.network_1["mtu"]
        self._diagnostics(server, port["mac_address"], tap)
        self._reboot(server, hard=False)
        self._reboot(server, hard=True)
        self._stop_and_start(server)
        self.action(server, {"pause": None}, "PAUSED")
        self.action(server, {"unpause": None}, "ACTIVE")
        self.action(server, {"suspend": None}, "SUSPENDED")
        self.action(server, {"resume": None}, "ACTIVE")
        self._crash_dump(server, arch)
        self._rebuild(server, image, tap)
        second = self._snapshot_and_boot(server, flavor, arch)
        for each, taps in ((server, [tap]), (second, [])):
            self.api.delete_server(each["id"])
            self.wait_deleted(each)
            assert self.host_leftovers(each, taps) == []
        assert self.computes["compute"].driver.list_instance_uuids() == []

    # -- steps --------------------------------------------------------------------------------

    def _diagnostics(self, server: dict[str, Any], mac: str, tap: str) -> None:
        """Server diagnostics, both forms of the API: the guest's vCPU time, its root disk's
        reads, its NIC by MAC (the tap's counters in the older form)."""
        before = self.admin_api.microversion
        self.admin_api.microversion = "2.48"
        try:
            found = self.admin_api.api_get(f"/servers/{server['id']}/diagnostics").body
            self.admin_api.microversion = "2.1"
            legacy = self.admin_api.api_get(f"/servers/{server['id']}/diagnostics").body
        finally:
            self.admin_api.microversion = before
        assert (found["state"], found["driver"], found["num_cpus"]) == ("running", "libvirt", 1)
        assert found["cpu_details"][0]["time"] > 0
        assert found["nic_details"][0]["mac_address"] == mac
        assert any(disk["read_bytes"] > 0 for disk in found["disk_details"])
        assert found["memory_details"]["maximum"] == 512
        assert legacy["cpu0_time"] > 0
        assert legacy["vda_read"] > 0
        assert f"{tap}_rx" in legacy

    def boot(self, image: str, flavor: str, networks: Any = "none", **extra: Any) -> dict[str, Any]:
        body = self._build_server(image_uuid=image, flavor_id=flavor, networks=networks)
        body.update(extra)
        server = self.api.post_server({"server": body})
        return dict(self.wait_status(server, "ACTIVE"))

    def action(self, server: dict[str, Any], body: dict[str, Any], status: str) -> Any:
        self.api.post_server_action(server["id"], body)
        found = self.wait_status(server, status)
        self._wait_task_done(server)
        return found

    def _wait_task_done(self, server: dict[str, Any], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.api.get_server(server["id"])["OS-EXT-STS:task_state"] is not None:
            assert time.monotonic() < deadline, "the server's task did not end"
            time.sleep(0.3)

    def boots(self, server: dict[str, Any]) -> int:
        text = self.api.post_server_action(server["id"], {"os-getConsoleOutput": {}})["output"]
        return int(text.count(BOOTED))

    def wait_boots(self, server: dict[str, Any], count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.boots(server) < count:
            assert time.monotonic() < deadline, f"no boot report #{count} after {timeout} s"
            time.sleep(0.5)

    def _reboot(self, server: dict[str, Any], *, hard: bool) -> None:
        before = self.boots(server)
        self.action(server, {"reboot": {"type": "HARD" if hard else "SOFT"}}, "ACTIVE")
        self.wait_boots(server, before + 1)

    def _stop_and_start(self, server: dict[str, Any]) -> None:
        before = self.boots(server)
        self.action(server, {"os-stop": None}, "SHUTOFF")
        self.action(server, {"os-start": None}, "ACTIVE")
        self.wait_boots(server, before + 1)

    def _rebuild(self, server: dict[str, Any], image: str, tap: str) -> None:
        """Nova's default rebuild: zcompute destroys the guest and spawns it again (same uuid,
        name, port and tap device name), which boots afresh with a new console log."""
        assert self.boots(server) > 1
        self.action(server, {"rebuild": {"imageRef": image}}, "ACTIVE")
        self.wait_console(server, BOOTED)
        assert self.boots(server) == 1  # the log of the new guest alone
        assert self.link_mtu(tap) == self.neutron.network_1["mtu"]

    def _crash_dump(self, server: dict[str, Any], arch: str) -> None:
        before = self.boots(server)
        self.api.post_server_action(server["id"], {"trigger_crash_dump": None})
        if arch == "s390x":
            # a restart interrupt without kdump: the guest stops, libvirt reports it crashed,
            # and Nova learns it from zcompute's lifecycle event (its power-state sync stops
            # the server); starting it again boots it
            self.wait_status(server, "SHUTOFF", timeout=60)
            self._wait_task_done(server)
            self.action(server, {"os-start": None}, "ACTIVE")
            self.wait_boots(server, before + 1)
        else:
            self.wait_console(server, "NMI received", timeout=60)
            assert self.api.get_server(server["id"])["status"] == "ACTIVE"

    def _snapshot_and_boot(self, server: dict[str, Any], flavor: str, arch: str) -> dict[str, Any]:
        reply = self.api.post_server_action(
            server["id"], {"createImage": {"name": f"snap-{self.token}"}}
        )
        image_id = reply["image_id"]
        self._wait_task_done(server)
        snap = self.glance.show(None, image_id)
        assert snap["status"] == "active"
        assert snap["disk_format"] == "qcow2"
        assert snap["size"] > 0
        second = self.boot(image_id, flavor)
        self.wait_console(second, f"{READY} arch={arch}")
        return second
