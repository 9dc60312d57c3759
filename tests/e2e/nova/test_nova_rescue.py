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
from typing import Any

from tests.e2e.nova.harness import NovaHarnessTest
from zcompute.plan import RESCUE_CONFIG_DRIVE, RESCUE_SERIAL

BOOTED = "ZCOMPUTE-DEVICES-END"
ROOT = "sectors=2097152 serial=none"  # the flavor's 1 GB root disk, blank, without a serial


def _disks(text: str) -> dict[str, str]:
    """The disks of the last boot report in ``text``: name -> "sectors=... serial=..."."""
    report = text.rsplit("ZCOMPUTE-GUEST-READY", 1)[-1]
    found = re.findall(r"ZCOMPUTE-BLOCK name=(vd\w+) (sectors=\d+ serial=\S+)", report)
    return dict(found)


class TestNovaRescue(NovaHarnessTest):
    def test_s390x_server_is_rescued_and_unrescued(self) -> None:
        image = self.upload_test_image("s390x")
        body = self._build_server(image_uuid=image, flavor_id=self.flavor(), networks="none")
        body["config_drive"] = True
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        before = _disks(self.wait_console(server, BOOTED))
        assert before["vda"] == ROOT, before
        assert len(before) == 2, before  # the root disk and the config drive

        password = secrets.token_urlsafe(12)
        self.api.post_server_action(server["id"], {"rescue": {"adminPass": password}})
        server = self.wait_status(server, "RESCUE")
        rescued = self._next_report(server)
        assert rescued["vda"].endswith(f"serial={RESCUE_SERIAL}"), rescued
        assert rescued["vdb"] == ROOT, rescued  # its own root disk, second
        assert len(rescued) == 3, rescued  # and the rescue boot's config drive
        drive = self._folder(server) / RESCUE_CONFIG_DRIVE
        assert password.encode() in drive.read_bytes()  # meta_data.json's admin_pass
        assert password not in self.domain_xml(server)

        self.api.post_server_action(server["id"], {"unrescue": None})
        server = self.wait_status(server, "ACTIVE")
        assert self._next_report(server) == before
        assert not drive.exists()

        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []
        assert self.computes["compute"].driver.list_instance_uuids() == []

    def _next_report(self, server: dict[str, Any]) -> dict[str, str]:
        """The disks of the boot report after the one seen last (s390x's log file starts
        afresh with every boot of QEMU, x86's grows: the last report is the new one)."""
        return _disks(self.wait_console(server, BOOTED))

    def _folder(self, server: dict[str, Any]) -> Any:
        (folder,) = self.data_root.glob(f"**/instances/{server['id']}")
        return folder
