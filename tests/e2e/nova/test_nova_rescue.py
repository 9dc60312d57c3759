"""Rescue and unrescue through Nova's REST API, with zcompute's real driver.

``POST /servers/{id}/action {"rescue": {...}}`` puts the server in RESCUE: the guest boots its
own (kernel-boot) image from a new rescue disk, its root disk second and, since the server has
a config drive, a drive made for the rescue boot that carries the rescue password. The guest's
boot report, read back through ``os-getConsoleOutput``, shows its disks. Unrescue brings the
server back to ACTIVE with its own disks; deleting it leaves nothing on the host.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

from tests.e2e.nova.harness import NovaHarnessTest
from zcompute.plan import RESCUE_CONFIG_DRIVE, RESCUE_SERIAL

BOOTED = "ZCOMPUTE-DEVICES-END"
READY = "ZCOMPUTE-GUEST-READY"
ROOT = "sectors=2097152 serial=none"  # the flavor's 1 GB root disk, blank, without a serial


def _disks(text: str) -> list[str]:
    """The disks of the last boot report in ``text`` ("sectors=... serial=...", sorted: the
    guest's kernel names disks in the order it probes them, not by their targets)."""
    report = text.rsplit(READY, 1)[-1]
    return sorted(re.findall(r"ZCOMPUTE-BLOCK name=vd\w+ (sectors=\d+ serial=\S+)", report))


class TestNovaRescue(NovaHarnessTest):
    def test_s390x_server_is_rescued_and_unrescued(self) -> None:
        self._rescue_and_unrescue("s390x")

    def test_x86_64_server_is_rescued_and_unrescued(self) -> None:
        self._rescue_and_unrescue("x86_64")

    def _rescue_and_unrescue(self, arch: str) -> None:
        image = self.upload_test_image(arch)
        body = self._build_server(image_uuid=image, flavor_id=self.flavor(), networks="none")
        body["config_drive"] = True
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        text = self.wait_console(server, BOOTED)
        before = _disks(text)
        assert ROOT in before, before
        assert len(before) == 2, before  # the root disk and the config drive

        password = secrets.token_urlsafe(12)
        self.api.post_server_action(server["id"], {"rescue": {"adminPass": password}})
        server = self.wait_status(server, "RESCUE")
        rescued, text = self._next_report(server, text)
        # the rescue disk (the flavor's size), its own root disk, the rescue's config drive
        assert f"sectors=2097152 serial={RESCUE_SERIAL}" in rescued, rescued
        assert ROOT in rescued, rescued
        assert len(rescued) == 3, rescued
        assert "<boot order='1'/>" in self._disk_xml(server, "disk.rescue")
        drive = self._folder(server) / RESCUE_CONFIG_DRIVE
        assert password.encode() in drive.read_bytes()  # meta_data.json's admin_pass
        assert password not in self.domain_xml(server)

        self.api.post_server_action(server["id"], {"unrescue": None})
        server = self.wait_status(server, "ACTIVE")
        assert self._next_report(server, text)[0] == before
        assert not drive.exists()

        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []
        assert self.computes["compute"].driver.list_instance_uuids() == []

    def _disk_xml(self, server: dict[str, Any], file: str) -> str:
        """The ``<disk>`` element of the live domain whose source is ``file``."""
        xml = self.domain_xml(server)
        (disk,) = [d for d in xml.split("<disk ")[1:] if f"/{file}'" in d]
        return disk.split("</disk>")[0]

    def _next_report(self, server: dict[str, Any], seen: str) -> tuple[list[str], str]:
        """The disks of the first complete boot report after console output ``seen``, and the
        output now (s390x's log file may start afresh with a new QEMU, x86's grows)."""
        deadline = time.monotonic() + 120
        while True:
            text = self.wait_console(server, BOOTED)
            fresh = not text.startswith(seen[:200])  # a new file: its reports are all new
            boots = text.count(READY) - (0 if fresh else seen.count(READY))
            last = text.rsplit(READY, 1)[-1]
            if boots > 0 and BOOTED in last:
                return _disks(text), text
            assert time.monotonic() < deadline, f"no new boot report:\n{text[-3000:]}"
            time.sleep(0.5)

    def _folder(self, server: dict[str, Any]) -> Path:
        (folder,) = self.data_root.glob(f"**/instances/{server['id']}")
        return folder
