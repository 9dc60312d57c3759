"""The guest agent through Nova's REST API: changePassword, createImage quiesced, quiesce.

A real Debian guest (its image uploaded into Nova's Glance fixture: kernel, initrd and the
qcow2 disk naming them, with ``hw_qemu_guest_agent`` and ``os_require_quiesce``) boots through
Nova; ``changePassword`` sets root's password, which the guest's console login then accepts;
``createImage`` quiesces the guest around the copy (the snapshot Glance receives holds a file
written, not synced, just before, in an ext4 that needs no journal recovery); Nova's compute
manager quiesces and unquiesces it as for a volume snapshot. A guest without the agent answers
changePassword with Nova's 409 (QemuGuestAgentNotEnabled).
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

from tests.e2e.nova.harness import NovaHarnessTest
from tests.e2e.test_debian_guest import cloud_image
from tests.e2e.test_guest_agent_ops import _freeze_status, _login, _run, disk_proof
from zcompute.errors import GuestAgentUnavailable
from zcompute.testimage import MILESTONES
from zcompute.testimage._debian import ROOT_CMDLINE

BOOTED = re.compile(MILESTONES[-1][1])  # cloud-init final: the agent is up by then, or soon


class TestNovaAgent(NovaHarnessTest):
    def _upload_debian(self, arch: str) -> str:
        built = cloud_image(arch)
        kernel = self._upload(f"debian-{arch}-kernel", "aki", built.kernel.read_bytes())
        ramdisk = self._upload(f"debian-{arch}-ramdisk", "ari", built.initrd.read_bytes())
        props = {
            "kernel_id": kernel,
            "ramdisk_id": ramdisk,
            "os_command_line": ROOT_CMDLINE,
            "hw_emulation_architecture": arch,
            "hw_qemu_guest_agent": "yes",
            "os_require_quiesce": "yes",
            "img_config_drive": "mandatory",  # cloud-init needs a data source (x86_64)
        }
        return self._upload(f"debian-{arch}", "qcow2", built.disk.read_bytes(), props)

    def _wait_booted(self, server: dict[str, Any], timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not BOOTED.search(self._console(server)):
            assert time.monotonic() < deadline, "the Debian guest never finished booting"
            time.sleep(2)
        zc = self.computes["compute"].driver.zc
        while True:
            try:
                zc.guest_agent_info(server["id"])
                return
            except GuestAgentUnavailable:
                assert time.monotonic() < deadline, "the guest agent never answered"
                time.sleep(1)

    def _console(self, server: dict[str, Any]) -> str:
        action = {"os-getConsoleOutput": {}}
        return str(self.api.post_server_action(server["id"], action)["output"])

    def _snapshot_proof(self, image_id: str, work: Path) -> tuple[str, str]:
        qcow2 = work / "snap.qcow2"
        qcow2.write_bytes(self.glance._imagedata[image_id])
        try:
            return disk_proof(qcow2, work)
        finally:
            qcow2.unlink(missing_ok=True)

    def test_s390x_debian_password_quiesced_snapshot_and_quiesce_through_nova(self) -> None:
        self._password_snapshot_and_quiesce("s390x")
        self._no_agent_is_a_409("s390x")

    def test_x86_64_debian_password_quiesced_snapshot_and_quiesce_through_nova(self) -> None:
        self._password_snapshot_and_quiesce("x86_64")

    def _password_snapshot_and_quiesce(self, arch: str) -> None:
        image = self._upload_debian(arch)
        flavor = self.flavor(memory_mb=1024, disk_gb=3)
        body = self._build_server(image_uuid=image, flavor_id=flavor, networks="none")
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE", 300)
        self._wait_booted(server)
        zc = self.computes["compute"].driver.zc
        password = f"Nv-{secrets.token_urlsafe(12)}"
        self.api.post_server_action(server["id"], {"changePassword": {"adminPass": password}})
        with zc.open_console(server["id"]) as console:
            accepted, seen = _login(console, "root", password)
            assert accepted, f"Nova's password was refused: {seen[-2000:]!r}"
            assert "uid=0(root)" in _run(console, "id")
            proof = f"nova-quiesced-{secrets.token_hex(4)}"
            _run(console, f"echo {proof} > /root/quiesce-proof")  # not synced
            started = time.monotonic()
            snap = self.api.post_server_action(server["id"], {"createImage": {"name": "q"}})
            image_id = snap["image_id"]
            self._wait_image_active(image_id)
            took = time.monotonic() - started
            self._wait_for_server_parameter(server, {"OS-EXT-STS:task_state": None})
            assert _freeze_status(zc, server["id"]) == "thawed"
            _run(console, "echo after > /root/after-snapshot", 30)

            # Nova's compute manager around a volume snapshot: quiesce, then unquiesce
            from nova import context as nova_context  # after the harness patched Nova
            from nova import objects

            ctx = nova_context.get_admin_context()
            instance = objects.Instance.get_by_uuid(ctx, server["id"])
            manager = self.computes["compute"].manager
            manager.quiesce_instance(ctx, instance)
            assert _freeze_status(zc, server["id"]) == "frozen"
            manager.unquiesce_instance(ctx, instance)
            assert _freeze_status(zc, server["id"]) == "thawed"
        work = Path(self.data_root)
        header, content = self._snapshot_proof(image_id, work)
        features = re.search(r"Filesystem features:(.*)", header)
        assert features is not None
        assert "needs_recovery" not in features.group(1)
        assert content.strip() == proof
        print(f"\nNova createImage of a quiesced {arch} Debian guest: {took:.1f} s")
        self.api.delete_server(server["id"])
        self.wait_deleted(server, 120)
        assert self.host_leftovers(server) == []

    def _no_agent_is_a_409(self, arch: str) -> None:
        """A guest without the agent: Nova's 409, nothing changed."""
        plain = self.upload_test_image(arch)
        body = self._build_server(image_uuid=plain, flavor_id=self.flavor(), networks="none")
        other = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        refused = self.api.api_post(
            f"/servers/{other['id']}/action",
            {"changePassword": {"adminPass": "not-used-1"}},
            check_response_status=False,
        )
        assert refused.status == 409, refused.body
        assert "agent" in str(refused.body).lower()
        self.api.delete_server(other["id"])
        self.wait_deleted(other)

    def _wait_image_active(self, image_id: str, timeout: float = 600) -> None:
        """Until the snapshot's data reached Glance (the fixture's record is active at once)."""
        deadline = time.monotonic() + timeout
        while image_id not in self.glance._imagedata:
            assert time.monotonic() < deadline, "the snapshot never reached Glance"
            time.sleep(1)
        assert self.glance.images[image_id]["status"] == "active"
