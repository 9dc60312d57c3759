"""Two compute hosts in one harness, and domains on the same libvirtd that are not Nova's.

Both compute services drive this machine's libvirtd, each with its own zcompute data
directory and host name. One offers only x86_64 guests (``[zcompute] guest_arches``): its
traits say so, and Nova's image-metadata prefilter places an image asking for
``hw_emulation_architecture=s390x`` only on the host that reports ``COMPUTE_ARCH_S390X``.
"""

from __future__ import annotations

import re

import libvirt

from tests.e2e.conftest import imported_test_image
from tests.e2e.nova.harness import NovaHarnessTest
from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.nova._conf import CONF, data_dir_for

HOST_X86 = "zc-x86"
HOST_ANY = "zc-any"


class TestTwoHosts(NovaHarnessTest):
    def _setup_compute_service(self) -> object:
        self.flags(guest_arches=["x86_64"], group="zcompute")
        self._start_compute(HOST_X86)
        self.flags(guest_arches=[], group="zcompute")
        return self._start_compute(HOST_ANY)

    def traits(self, host: str) -> set[str]:
        rp = self._get_provider_uuid_by_host(host)
        return set(self._get_provider_traits(rp))

    def test_an_s390x_image_lands_only_on_the_host_that_offers_s390x(self) -> None:
        assert "COMPUTE_ARCH_S390X" not in self.traits(HOST_X86)
        assert "COMPUTE_ARCH_X86_64" in self.traits(HOST_X86)
        assert {"COMPUTE_ARCH_S390X", "COMPUTE_ARCH_X86_64"} <= self.traits(HOST_ANY)
        assert "HW_ARCH_X86_64" in self.traits(HOST_X86) & self.traits(HOST_ANY)
        assert "COMPUTE_STORAGE_BUS_VIRTIO" in self.traits(HOST_ANY)
        assert data_dir_for(HOST_X86) != data_dir_for(HOST_ANY)
        image = self.upload_test_image("s390x")
        flavor = self.flavor()
        servers = []
        for _ in range(2):
            body = self._build_server(image_uuid=image, flavor_id=flavor, networks="none")
            servers.append(self.wait_status(self.api.post_server({"server": body}), "ACTIVE"))
        assert [s["OS-EXT-SRV-ATTR:host"] for s in servers] == [HOST_ANY, HOST_ANY]
        assert self.computes[HOST_X86].driver.list_instance_uuids() == []
        assert sorted(self.computes[HOST_ANY].driver.list_instance_uuids()) == sorted(
            s["id"] for s in servers
        )
        for server in servers:
            self.wait_console(server, "ZCOMPUTE-GUEST-READY arch=s390x")
            self.api.delete_server(server["id"])
            self.wait_deleted(server)
            assert self.host_leftovers(server) == []


_FOREIGN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>"""


class TestForeignDomains(NovaHarnessTest):
    """A foreign domain and a guest of zcompute's CLI (in the very data directory the compute
    service uses) exist before Nova's compute starts: Nova neither sees nor touches them."""

    def _setup_compute_service(self) -> object:
        conn = libvirt.open("qemu:///system")
        try:
            conn.defineXML(_FOREIGN_XML.format(name=self.prefix + "foreign"))
        finally:
            conn.close()
        cli = ComputeDriver(Config(virt_type="qemu", data_dir=data_dir_for("compute")))
        cli.init_host()
        image = imported_test_image(cli, "s390x")
        from tests.e2e.conftest import TINY

        self.cli_guest = cli.spawn(self.prefix + "cli", image, TINY).uuid
        self.cli = cli
        self.addCleanup(cli.close)
        return super()._setup_compute_service()

    def test_nova_neither_reports_nor_touches_them(self) -> None:
        driver = self.computes["compute"].driver
        assert driver.list_instance_uuids() == []
        # the host's facts, as Nova's API shows them (get_host_uptime, get_host_ip_addr)
        (hypervisor,) = self.admin_api.api_get("/os-hypervisors/detail").body["hypervisors"]
        assert re.fullmatch(r"up \d+ days, \d\d:\d\d, load average: .*", hypervisor["uptime"])
        assert hypervisor["host_ip"] == str(CONF.my_ip)
        assert hypervisor["hypervisor_type"] == "QEMU"
        image = self.upload_test_image("s390x")
        body = self._build_server(image_uuid=image, flavor_id=self.flavor(), networks="none")
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        assert driver.list_instance_uuids() == [server["id"]]
        assert driver.list_instances() == [self.instance_name(server)]
        self._run_periodics()  # the resource audit and power-state sync of every instance
        servers = self.admin_api.get_servers(search_opts={"all_tenants": 1})
        assert [(s["id"], s["status"]) for s in servers] == [(server["id"], "ACTIVE")]
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []
        assert self.cli.get_info(self.cli_guest).state.value == "running"
        conn = libvirt.open("qemu:///system")
        try:
            assert conn.lookupByName(self.prefix + "foreign").isActive() == 0  # still defined
        finally:
            conn.close()
