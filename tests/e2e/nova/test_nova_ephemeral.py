"""A flavor's ephemeral and swap disks through Nova's REST API, with zcompute's real driver.

The flavor is created through the API (``OS-FLV-EXT-DATA:ephemeral`` in GB, ``swap`` in MB);
Nova records the disks as block device mappings, names them through the driver, and hands
them to spawn, which zcompute makes of the flavor. The guest's boot report, read back through
``os-getConsoleOutput``, shows them after the root disk; deleting the server leaves nothing.
"""

from __future__ import annotations

import re

from tests.e2e.nova.harness import NovaHarnessTest

BOOTED = "ZCOMPUTE-DEVICES-END"
GIB, MIB, SECTOR = 1 << 30, 1 << 20, 512


class TestNovaEphemeral(NovaHarnessTest):
    def test_s390x_guest_sees_the_flavor_s_ephemeral_and_swap_disks(self) -> None:
        image = self.upload_test_image("s390x")
        flavor = self.admin_api.post_flavor(
            {
                "flavor": {
                    "name": f"zct-{self.token}-eph",
                    "ram": 512,
                    "vcpus": 1,
                    "disk": 1,
                    "OS-FLV-EXT-DATA:ephemeral": 1,
                    "swap": 64,
                }
            }
        )
        body = self._build_server(image_uuid=image, flavor_id=flavor["id"], networks="none")
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        text = self.wait_console(server, BOOTED)
        # the guest's kernel names disks in the order it probes them, not by their targets:
        # root (1 GiB, the flavor's disk), ephemeral (1 GiB) and swap (64 MiB) are its disks
        sectors = sorted(
            int(s) for s in re.findall(r"ZCOMPUTE-BLOCK name=vd\w+ sectors=(\d+)", text)
        )
        assert sectors == [64 * MIB // SECTOR, GIB // SECTOR, GIB // SECTOR], text
        # the device names Nova recorded are the plan's
        bdms = self.api.api_get(f"/servers/{server['id']}/os-volume_attachments").body
        assert bdms["volumeAttachments"] == []  # no volumes: only the flavor's local disks
        xml = self.domain_xml(server)
        for target, file in (("vdb", "disk.eph0"), ("vdc", "disk.swap")):
            assert f"{server['id']}/{file}" in xml, xml
            assert f"<target dev='{target}' bus='virtio'/>" in xml, xml
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []
        assert self.computes["compute"].driver.list_instance_uuids() == []
