"""Resize (confirm, revert) and rebuild through Nova's REST API, with zcompute's real driver.

Nova resizes on the same host (``allow_resize_to_same_host``): the server goes to
VERIFY_RESIZE with the new flavor running, and ``confirmResize`` keeps it while
``revertResize`` brings the old one back. What counts is what the guest sees on its console
shell once it booted (``os-getConsoleOutput`` shows its boot report): its CPUs (``nproc``) and
its root disk's size (``/sys/block/vd*/size``). A rebuild boots another image in the same
server: its kernel command line shows in the console output.
"""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.lifecycle_support import open_shell, run
from tests.e2e.nova.harness import NovaHarnessTest
from zcompute.errors import Timeout

BOOTED = "ZCOMPUTE-DEVICES-END"
GIB, SECTOR = 1 << 30, 512


class TestNovaResize(NovaHarnessTest):
    def _setup_services(self) -> None:
        self.flags(allow_resize_to_same_host=True)
        super()._setup_services()

    def _flavor(self, label: str, vcpus: int, ram: int, disk: int) -> str:
        body = {"flavor": {"name": f"zct-{self.token}-{label}", "ram": ram, "vcpus": vcpus,
                           "disk": disk}}  # fmt: skip
        return str(self.admin_api.post_flavor(body)["id"])

    def _boot(self) -> tuple[dict[str, Any], str]:
        image = self.upload_test_image("s390x")
        small = self._flavor("small", 1, 512, 1)
        body = self._build_server(image_uuid=image, flavor_id=small, networks="none")
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        self.wait_console(server, BOOTED, timeout=240)
        return server, self._flavor("big", 2, 768, 2)

    def _seen(self, server: dict[str, Any]) -> tuple[int, list[int]]:
        """The guest's vCPUs and the sizes of its disks (sectors), asked on its console shell
        (its log may still hold the boot before a resize)."""
        self.wait_console(server, BOOTED, timeout=240)
        zc = self.computes["compute"].driver.zc
        deadline = time.monotonic() + 240
        while True:  # the guest may be booting still
            try:
                with open_shell(zc, server["id"]) as shell:
                    cpus = run(shell, "nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo")
                    sizes = run(shell, "cat /sys/block/vd*/size")
                break
            except Timeout:
                if time.monotonic() > deadline:
                    raise
        return int(cpus.split()[-1]), sorted(int(n) for n in sizes.split())

    def _kept(self, server: dict[str, Any]) -> list[str]:
        folder = self.computes["compute"].driver.zc.instances_dir / server["id"]
        return sorted(p.name for p in folder.iterdir() if p.name.startswith("resize"))

    def test_s390x_resize_then_confirm(self) -> None:
        server, big = self._boot()
        assert self._seen(server) == (1, [GIB // SECTOR])
        self.api.post_server_action(server["id"], {"resize": {"flavorRef": big}})
        server = self.wait_status(server, "VERIFY_RESIZE", timeout=240)
        assert self._seen(server) == (2, [2 * GIB // SECTOR])
        assert self._kept(server) == ["resize-old"]
        self.api.post_server_action(server["id"], {"confirmResize": None})
        server = self.wait_status(server, "ACTIVE")
        assert server["flavor"]["vcpus"] == 2
        assert self._kept(server) == []
        assert self._seen(server) == (2, [2 * GIB // SECTOR])
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []

    def test_s390x_resize_then_revert(self) -> None:
        server, big = self._boot()
        self.api.post_server_action(server["id"], {"resize": {"flavorRef": big}})
        server = self.wait_status(server, "VERIFY_RESIZE", timeout=240)
        assert self._seen(server) == (2, [2 * GIB // SECTOR])
        self.api.post_server_action(server["id"], {"revertResize": None})
        server = self.wait_status(server, "ACTIVE", timeout=240)
        assert server["flavor"]["vcpus"] == 1
        assert self._seen(server) == (1, [GIB // SECTOR])
        assert self._kept(server) == []
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []

    def test_s390x_rebuild_boots_the_new_image(self) -> None:
        server, _big = self._boot()
        mark = f"zctrebuilt{self.token}"
        other = self.upload_test_image("s390x", os_command_line=f"zcompute.mode=shell {mark}")
        self.api.post_server_action(server["id"], {"rebuild": {"imageRef": other}})
        server = self.wait_status(server, "ACTIVE", timeout=240)
        assert server["image"]["id"] == other
        text = self.wait_console(server, mark, timeout=180)
        assert BOOTED in text.rpartition(mark)[2] or self.wait_console(server, BOOTED)
        assert self.computes["compute"].driver.list_instance_uuids() == [server["id"]]
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []
