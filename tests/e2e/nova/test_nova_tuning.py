"""Disk I/O limits from a flavor's extra specs and file-backed memory, through Nova's REST API.

A flavor's ``quota:disk_read_bytes_sec`` (set through ``os-extra_specs``, validated by Nova's
API) reaches zcompute with the flavor, and the live domain's root disk carries it as
``<iotune>``. With ``[libvirt] file_backed_memory`` (and the ``ram_allocation_ratio`` of 1.0 and
no reserved memory Nova requires with it), the node reports that capacity as its memory and
the guest's memory is a shared file. The time a guest's reads take under the limit is measured
in tests/e2e/test_lifecycle_tuning.py.
"""

from __future__ import annotations

from xml.etree import ElementTree

from tests.e2e.nova.harness import NovaHarnessTest

BOOTED = "ZCOMPUTE-DEVICES-END"
LIMIT = 1 << 20
FILE_BACKED_MIB = 6144


class TestNovaDiskLimits(NovaHarnessTest):
    def test_s390x_server_of_a_rate_limited_flavor_has_iotune_on_its_disk(self) -> None:
        image = self.upload_test_image("s390x")
        flavor = self.admin_api.post_flavor(
            {"flavor": {"name": f"zct-{self.token}-lim", "ram": 256, "vcpus": 1, "disk": 1}}
        )
        specs = {"quota:disk_read_bytes_sec": str(LIMIT), "quota:disk_write_iops_sec": "200"}
        self.admin_api.post_extra_spec(flavor["id"], {"extra_specs": specs})
        body = self._build_server(image_uuid=image, flavor_id=flavor["id"], networks="none")
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        self.wait_console(server, BOOTED)
        root = ElementTree.fromstring(self.domain_xml(server))
        disk = next(d for d in root.iter("disk") if d.find("target").get("dev") == "vda")  # type: ignore[union-attr]
        tune = {child.tag: child.text for child in disk.find("iotune") or ()}
        assert tune == {"read_bytes_sec": str(LIMIT), "write_iops_sec": "200"}, tune
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []


class TestNovaFileBackedMemory(NovaHarnessTest):
    def _setup_driver(self) -> None:
        super()._setup_driver()
        self.flags(file_backed_memory=FILE_BACKED_MIB, group="libvirt")
        self.flags(ram_allocation_ratio=1.0, reserved_host_memory_mb=0)

    def test_x86_server_memory_is_a_file_and_the_node_reports_its_capacity(self) -> None:
        compute = self.computes["compute"]
        nodename = compute.driver.get_available_nodes()[0]
        assert compute.driver.get_available_resource(nodename)["memory_mb"] == FILE_BACKED_MIB
        assert compute.driver.capabilities["supports_mem_backing_file"] is True
        image = self.upload_test_image("x86_64")
        body = self._build_server(image_uuid=image, flavor_id=self.flavor(256), networks="none")
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        self.wait_console(server, BOOTED)
        backing = ElementTree.fromstring(self.domain_xml(server)).find("memoryBacking")
        assert backing is not None
        assert backing.find("source").get("type") == "file"  # type: ignore[union-attr]
        assert backing.find("access").get("mode") == "shared"  # type: ignore[union-attr]
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []
