"""Boot from volume through Nova's REST API on real guests, and the rebuild of such a server.

The root volume is a LUN of the test's own tgtd (behind CHAP); Nova's Cinder fixture says it
was made from the test image (``volume_image_metadata``), so the server is described by that
image's properties: its kernel boots, the volume is the guest's first disk. Cinder's re-image
of a rebuild (API 2.93) is played by writing the new content into the LUN and sending Nova the
``volume-reimaged`` event, as Cinder would; the guest then boots again and sees it.
"""

from __future__ import annotations

import time
from typing import Any

import fixtures

from tests.e2e.lifecycle_support import open_shell, run
from tests.e2e.nova.test_nova_volumes import BOOTED, MIB, SECTOR, VolumeHarness

CHAP = ("zcbfv", "zc-bfv-chap-secret")


class TestNovaBootFromVolume(VolumeHarness):
    def test_s390x_boots_from_an_iscsi_volume_and_is_rebuilt_onto_it(self) -> None:
        server, volume_id, lun = self._boot_from_volume("s390x")
        self._rebuild(server, volume_id, lun)
        self._delete(server)

    def test_x86_64_boots_from_an_iscsi_volume(self) -> None:
        server, _volume_id, _lun = self._boot_from_volume("x86_64")
        self._delete(server)

    def _boot_from_volume(self, arch: str) -> tuple[dict[str, Any], str, Any]:
        self.image_id = self.upload_test_image(arch)
        volume_id = self.volume("root", 32 * MIB, chap=CHAP)
        lun = self.target.luns[-1]
        with lun.backing.open("r+b") as handle:
            handle.write(b"ZCROOT42")
        self.cinder.volumes[volume_id] = {
            "id": volume_id, "display_name": "root", "size": 1, "multiattach": False,
            "availability_zone": "nova", "status": "available", "bootable": True,
            "volume_image_metadata": self._volume_image_metadata(self.image_id),
        }  # fmt: skip
        self.flavor_id = self.flavor()
        body = {
            "name": f"{self.prefix}bfv-{arch}", "flavorRef": self.flavor_id, "networks": "none",
            "block_device_mapping_v2": [{"boot_index": 0, "uuid": volume_id,
                                         "source_type": "volume", "destination_type": "volume"}],
        }  # fmt: skip
        started = time.monotonic()
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        text = self.wait_console(server, BOOTED)
        print(f"\n{arch}: booted from an iSCSI volume (CHAP) {time.monotonic() - started:.1f} s "
              "after the create request")  # fmt: skip
        size = 32 * MIB // SECTOR
        assert f"ZCOMPUTE-BLOCK name=vda sectors={size} serial={volume_id[:20]}" in text, text
        assert self._root_content(server) == "ZCROOT42"
        assert not list(self.data_root.glob(f"**/{server['id']}/disk.qcow2"))  # no local root
        assert CHAP[1] not in self.domain_xml(server)
        assert len(self.zcompute_secrets(server)) == 1
        self.cinder.volumes[volume_id]["status"] = "in-use"
        return dict(server), volume_id, lun

    def _rebuild(self, server: dict[str, Any], volume_id: str, lun: Any) -> None:
        """Rebuild with a new image (2.93): Cinder re-images the volume, the guest boots it."""
        from nova import context as nova_context  # after the harness patched threading
        from nova import objects

        props = dict(self.glance.show(None, self.image_id)["properties"])
        new_image = self._upload("s390x-rebuild", "ami", b"\0" * 512, props)

        def reimage(context: Any, vid: str, image_id: str, reimage_reserved: bool = False) -> None:
            assert (vid, image_id, reimage_reserved) == (volume_id, new_image, True)
            with lun.backing.open("r+b") as handle:
                handle.write(b"ZCREIMG2")  # what the new image holds
            self.cinder.volumes[vid]["volume_image_metadata"] = self._volume_image_metadata(
                new_image
            )
            ctx = nova_context.get_admin_context()
            event = objects.InstanceExternalEvent(
                name="volume-reimaged", tag=vid, status="completed", instance_uuid=server["id"]
            )
            instance = objects.Instance.get_by_uuid(ctx, server["id"])
            self.computes["compute"].manager.external_instance_event(ctx, [instance], [event])

        self.useFixture(
            fixtures.MockPatch(
                "nova.volume.cinder.API.reimage_volume", side_effect=reimage, autospec=False
            )
        )
        self.api.microversion = "2.93"
        started = time.monotonic()
        self.api.post_server_action(server["id"], {"rebuild": {"imageRef": new_image}})
        self._wait_task_done(server)
        self.wait_console(server, BOOTED)
        print(f"s390x: volume-backed rebuild booted {time.monotonic() - started:.1f} s "
              "after the request")  # fmt: skip
        assert self._root_content(server) == "ZCREIMG2"
        assert len(self.zcompute_secrets(server)) == 1  # the old guest's secret went with it

    def _wait_task_done(self, server: dict[str, Any], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            found = self.api.get_server(server["id"])
            if found["status"] == "ACTIVE" and found["OS-EXT-STS:task_state"] is None:
                return
            assert found["status"] != "ERROR", found.get("fault")
            assert time.monotonic() < deadline, found
            time.sleep(0.5)

    def _root_content(self, server: dict[str, Any]) -> str:
        driver = self.computes["compute"].driver.zc
        with open_shell(driver, server["id"]) as stream:
            text = run(stream, "head -c 8 /dev/vda; echo")
        return next(w for w in text.split() if w.startswith("ZC"))

    def _volume_image_metadata(self, image_id: str) -> dict[str, str]:
        """What Cinder keeps of the image a volume was made from."""
        image = self.glance.show(None, image_id)
        return {"image_id": image_id, "image_name": image["name"], "size": "512",
                "min_ram": "0", "min_disk": "0", "disk_format": image["disk_format"],
                "container_format": image["container_format"],
                **{k: str(v) for k, v in image["properties"].items()}}  # fmt: skip

    def _delete(self, server: dict[str, Any]) -> None:
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []
        assert self.zcompute_secrets(server) == []
