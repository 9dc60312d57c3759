"""Cinder volumes through Nova's REST API on real guests: iSCSI with and without CHAP, tags,
multiattach, volumes given at boot, a volume Cinder migrates (swap).

The volumes are LUNs of a userspace iSCSI target (tgtd) this test starts on 127.0.0.1 (see
tests/e2e/iscsi_target.py); Nova's Cinder fixture hands each volume's ``connection_info`` to
the driver, as a real Cinder's iSCSI driver would. QEMU logs in to the target itself. The
guest's hotplug messages, read back through ``os-getConsoleOutput``, show each disk with its
size and serial (the first 20 characters of the volume id: a virtio-blk serial's length) and
each removal; the host keeps no disk, secret or record of a detached volume.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from typing import Any

import libvirt

from tests.e2e.iscsi_target import IscsiTarget, running_target
from tests.e2e.lifecycle_support import run, wait_for_shell
from tests.e2e.nova.harness import NovaHarnessTest, OpenStackApiException

BOOTED = "ZCOMPUTE-DEVICES-END"
MIB, GIB, SECTOR = 1 << 20, 1 << 30, 512


class VolumeHarness(NovaHarnessTest):
    """A server, an iSCSI target and helpers to attach its LUNs as Cinder volumes."""

    def setUp(self) -> None:
        super().setUp()
        folder = self.data_root / "iscsi"
        folder.mkdir(parents=True, exist_ok=True)
        stack = contextlib.ExitStack()
        self.addCleanup(stack.close)  # after Nova's services stopped: cleanups run in reverse
        self.target: IscsiTarget = stack.enter_context(running_target(folder))

    def volume(self, name: str, size: int, **export: Any) -> str:
        """A new LUN as a Cinder volume: its id (the fixture hands out its connection_info)."""
        volume_id = str(uuid.uuid4())
        lun = self.target.export(f"{name}-{self.token}", size, **export)
        self.cinder.VOLUME_CONNECTION_INFO[volume_id] = lun.connection_info(volume_id)
        return volume_id

    def boot_test_server(self, arch: str, **extra: Any) -> dict[str, Any]:
        image = self.upload_test_image(arch)
        if not hasattr(self, "flavor_id"):
            self.flavor_id = self.flavor()
        body = self._build_server(image_uuid=image, flavor_id=self.flavor_id, networks="none")
        body.update(extra)
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        self.wait_console(server, BOOTED)
        return dict(server)

    def attach(self, server: dict[str, Any], volume_id: str, tag: str | None = None) -> None:
        body: dict[str, Any] = {"volumeId": volume_id}
        if tag:
            body["tag"] = tag
        self.api.post_server_volume(server["id"], {"volumeAttachment": body})

    def wait_attached(self, server: dict[str, Any], volume_id: str, size: int) -> str:
        """The guest's name of the new disk, once it reported it."""
        pattern = (
            rf"ZCOMPUTE-BLOCK added name=(vd\w+) sectors={size // SECTOR} "
            rf"serial={re.escape(volume_id[:20])}"
        )
        deadline = time.monotonic() + 120
        while True:
            found = re.search(pattern, self.console(server))
            if found:
                return found.group(1)
            assert time.monotonic() < deadline, f"the guest never saw volume {volume_id}"
            time.sleep(0.3)

    def console(self, server: dict[str, Any]) -> str:
        out = self.api.post_server_action(server["id"], {"os-getConsoleOutput": {}})
        return str(out["output"])

    def attachments(self, server: dict[str, Any]) -> list[str]:
        found = self.api.api_get(f"/servers/{server['id']}/os-volume_attachments").body
        return [a["volumeId"] for a in found["volumeAttachments"]]

    def wait_detached(self, server: dict[str, Any], volume_id: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while volume_id in self.attachments(server):
            assert time.monotonic() < deadline, f"volume {volume_id} is still attached"
            time.sleep(0.3)

    @staticmethod
    def zcompute_secrets(server: dict[str, Any]) -> list[str]:
        """The usage ids of the libvirt secrets of ``server``'s guest (they name its uuid)."""
        conn = libvirt.open("qemu:///system")
        try:
            return [s.usageID() or "" for s in conn.listAllSecrets() if server["id"] in s.usageID()]
        finally:
            conn.close()


class TestNovaIscsiVolumes(VolumeHarness):
    def test_s390x_iscsi_volumes_with_chap_tags_and_a_wrong_password(self) -> None:
        self._volumes("s390x")

    def test_x86_64_iscsi_volumes_with_chap_tags_and_a_wrong_password(self) -> None:
        self._volumes("x86_64")

    def _volumes(self, arch: str) -> None:
        server = self.boot_test_server(arch)
        plain = self.volume("plain", 64 * MIB)
        chap = self.volume("chap", 32 * MIB, chap=("zcuser", "zc-secret-1234"))
        started = time.monotonic()
        self.attach(server, plain, tag="zc-data")
        self.wait_attached(server, plain, 64 * MIB)
        print(f"\n{arch}: iSCSI volume seen by the guest {time.monotonic() - started:.2f} s "
              "after the attach request")  # fmt: skip
        self.attach(server, chap)
        self.wait_attached(server, chap, 32 * MIB)
        assert set(self.attachments(server)) == {plain, chap}
        # the CHAP password is in a libvirt secret, never in the domain's XML
        xml = self.domain_xml(server)
        assert "zc-secret-1234" not in xml
        assert "<auth username='zcuser'>" in xml, xml
        assert len(self.zcompute_secrets(server)) == 1, self.zcompute_secrets(server)
        self._check_tag(server, plain)

        # a wrong CHAP password: the attach fails, nothing of it stays
        wrong = self.volume("wrong", 16 * MIB, chap=("zcuser2", "right-password-99"))
        info = self.cinder.VOLUME_CONNECTION_INFO[wrong]
        info["data"]["auth_password"] = "wrong-password-99"  # type: ignore[index]
        # Nova's harness makes the compute service's casts calls: the error comes back
        with contextlib.suppress(OpenStackApiException):
            self.attach(server, wrong)
        self.wait_detached(server, wrong)
        faults = self.console(server)
        assert faults.count("ZCOMPUTE-BLOCK added") == 2, faults
        assert "wrong-password-99" not in self.domain_xml(server)

        for count, volume_id in enumerate((plain, chap), 1):
            started = time.monotonic()
            self.api.delete_server_volume(server["id"], volume_id)
            self.wait_detached(server, volume_id)
            while self.console(server).count("ZCOMPUTE-BLOCK removed") < count:
                assert time.monotonic() < started + 120, "the guest still has the volume"
                time.sleep(0.3)
            print(f"{arch}: volume gone in the guest {time.monotonic() - started:.2f} s "
                  "after the detach request")  # fmt: skip
        assert self.zcompute_secrets(server) == []  # no CHAP secret stays
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []

    def _check_tag(self, server: dict[str, Any], volume_id: str) -> None:
        from nova import context as nova_context  # after the harness patched threading
        from nova import objects

        ctx = nova_context.get_admin_context()
        inst = objects.Instance.get_by_uuid(ctx, server["id"], expected_attrs=["device_metadata"])
        disks = [d for d in inst.device_metadata.devices if d.obj_name() == "DiskMetadata"]
        assert [(d.serial, d.tags) for d in disks] == [(volume_id, ["zc-data"])]


class TestNovaExtendVolume(VolumeHarness):
    def test_s390x_guest_sees_an_iscsi_volume_grow(self) -> None:
        server = self.boot_test_server("s390x")
        volume_id = self.volume("grow", GIB)
        self.cinder.volumes[volume_id] = {  # what the fixture's Cinder says of the volume
            "id": volume_id, "display_name": "grow", "size": 1, "multiattach": False,
            "availability_zone": "nova",
        }  # fmt: skip
        self.attach(server, volume_id)
        name = self.wait_attached(server, volume_id, GIB)
        # the storage grows (Cinder's extend): the LUN's file, re-exported at its new size
        lun = self.target.luns[-1]
        with lun.backing.open("r+b") as handle:
            handle.truncate(2 * GIB)
        self.target.resize(lun)
        self.cinder.volumes[volume_id]["size"] = 2
        started = time.monotonic()
        self.api.api_post(
            "/os-server-external-events",
            {"events": [{"name": "volume-extended", "server_uuid": server["id"],
                         "tag": volume_id}]},
        )  # fmt: skip
        deadline = started + 120
        while f"name={name} sectors={2 * GIB // SECTOR}" not in self._sizes(server, name):
            assert time.monotonic() < deadline, "the guest never saw the volume grow"
            time.sleep(0.3)
        print(f"\ns390x: new volume size seen by the guest {time.monotonic() - started:.2f} s "
              "after Cinder's volume-extended event")  # fmt: skip
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []

    def _sizes(self, server: dict[str, Any], name: str) -> str:
        """What the guest's sysfs says of its disk ``name``'s size (on its own console)."""
        stream = self.computes["compute"].driver.zc.open_console(server["id"])
        try:
            wait_for_shell(stream)
            return f"name={name} sectors={run(stream, f'cat /sys/block/{name}/size')}"
        finally:
            stream.close()


class TestNovaMultiattach(VolumeHarness):
    def test_s390x_and_x86_64_guests_share_one_volume(self) -> None:
        shared = self.cinder.MULTIATTACH_VOL
        lun = self.target.export(f"shared-{self.token}", 48 * MIB)
        self.cinder.VOLUME_CONNECTION_INFO[shared] = lun.connection_info(shared)
        servers = [self.boot_test_server(arch) for arch in ("s390x", "x86_64")]
        for server in servers:
            self.attach(server, shared)
            self.wait_attached(server, shared, 48 * MIB)
            assert "<shareable/>" in self.domain_xml(server)
        self.api.delete_server_volume(servers[0]["id"], shared)
        self.wait_detached(servers[0], shared)
        assert shared in self.attachments(servers[1])  # the other guest keeps it
        for server in servers:
            self.api.delete_server(server["id"])
            self.wait_deleted(server)
            assert self.host_leftovers(server) == []


class TestNovaBootVolume(VolumeHarness):
    def test_s390x_server_booted_with_a_data_volume(self) -> None:
        data = self.volume("boot-data", 40 * MIB)
        mapping = [
            {"boot_index": 0, "uuid": "", "source_type": "image", "destination_type": "local"},
            {"boot_index": -1, "uuid": data, "source_type": "volume",
             "destination_type": "volume", "tag": "zc-boot-vol"},
        ]  # fmt: skip
        image = self.upload_test_image("s390x")
        mapping[0]["uuid"] = image
        body = self._build_server(image_uuid=image, flavor_id=self.flavor(), networks="none")
        body["block_device_mapping_v2"] = mapping
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        text = self.wait_console(server, BOOTED)
        assert re.search(rf"sectors={40 * MIB // SECTOR} serial={data[:20]}", text) or (
            self.wait_attached(server, data, 40 * MIB)
        )
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []


class TestNovaSwapVolume(VolumeHarness):
    def test_s390x_cinder_migrates_an_attached_iscsi_volume_onto_a_chap_one(self) -> None:
        """Cinder's volume migration calls Nova's swap (``PUT .../os-volume_attachments/OLD``
        with the new volume): the guest's data moves onto the new LUN under the running
        guest, which keeps its disk; the new volume's CHAP secret is the guest's only one."""
        server = self.boot_test_server("s390x")
        old_id, new_id = self.cinder.SWAP_OLD_VOL, self.cinder.SWAP_NEW_VOL
        old = self.target.export(f"swap-old-{self.token}", 32 * MIB)
        new = self.target.export(
            f"swap-new-{self.token}", 32 * MIB, chap=("zcswap", "zc-swap-secret-77")
        )
        self.cinder.VOLUME_CONNECTION_INFO[old_id] = old.connection_info(old_id)
        self.cinder.VOLUME_CONNECTION_INFO[new_id] = new.connection_info(new_id)
        self.attach(server, old_id)
        name = self.wait_attached(server, old_id, 32 * MIB)
        stream = self.computes["compute"].driver.zc.open_console(server["id"])
        try:
            wait_for_shell(stream)
            run(stream, f"echo ZC-NOVA-SWAPPED-DATA > /dev/{name}; sync")
        finally:
            stream.close()
        started = time.monotonic()
        self.api.put_server_volume(server["id"], old_id, new_id)
        deadline = started + 180
        while self.attachments(server) != [new_id]:
            assert time.monotonic() < deadline, f"still attached: {self.attachments(server)}"
            time.sleep(0.3)
        print(f"\ns390x: Nova's swap onto an iSCSI volume done {time.monotonic() - started:.2f} "
              "s after the request")  # fmt: skip
        with new.backing.open("rb") as handle:
            assert handle.read(20) == b"ZC-NOVA-SWAPPED-DATA"  # the guest's data moved
        xml = self.domain_xml(server)
        assert new.iqn in xml
        assert old.iqn not in xml
        assert "zc-swap-secret-77" not in xml
        assert "<auth username='zcswap'>" in xml, xml
        assert len(self.zcompute_secrets(server)) == 1, self.zcompute_secrets(server)
        assert "ZCOMPUTE-BLOCK removed" not in self.console(server)  # the same disk all along
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.zcompute_secrets(server) == []
        assert self.host_leftovers(server) == []
