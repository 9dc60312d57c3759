"""A Debian cloud guest booted through Nova with a config drive reads it with cloud-init.

The image is zcompute's Debian 12 cloud image (built from Debian's packages, cached) in Glance
as Nova's operators upload such images: a qcow2 root disk with ``kernel_id``/``ramdisk_id``
naming an ``aki`` and an ``ari``, and ``os_command_line``. Nova hands zcompute the server's
identity, key pair, user data, metadata and network data; the guest reports what it read
from the drive on its console, read back through Nova's ``os-getConsoleOutput``.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.e2e.conftest import DATA_DIR
from tests.e2e.nova.harness import NovaHarnessTest
from tests.e2e.test_debian_guest import KEY
from zcompute.testimage import build_cloud_image
from zcompute.testimage._debian import ROOT_CMDLINE

# runcmd runs as root after cloud-init configured users and keys; each line lands on the
# console, where cloud-init's output goes. The guest mounts the drive it booted with and
# reports what meta_data.json says.
USER_DATA = """#cloud-config
runcmd:
  - mkdir -p /mnt/cd && mount -o ro "$(blkid -t LABEL=config-2 -o device)" /mnt/cd
  - echo "ZC-DRIVE $(blkid -t LABEL=config-2 -o device)"
  - python3 -c "{READ_META}"
  - echo "ZC-HOST $(hostname)"
  - echo "ZC-KEY $(cut -d' ' -f3 /home/debian/.ssh/authorized_keys)"
  - echo {READ_DEVICES} | base64 -d | python3
  - echo ZC-DONE
"""


READ_META = (
    "import json; m = json.load(open('/mnt/cd/openstack/latest/meta_data.json')); "
    "print('ZC-UUID', m['uuid']); print('ZC-META', m['meta']['role'])"
)
# each tagged device of the drive, and the bus id the guest itself sees its NIC at (the
# parent of the NIC's virtio device in sysfs); base64 on the command line: YAML reads no ": "
READ_DEVICES = base64.b64encode(
    b"""import json, os
meta = json.load(open("/mnt/cd/openstack/latest/meta_data.json"))
nics = {}
for name in os.listdir("/sys/class/net"):
    nics[open(f"/sys/class/net/{name}/address").read().strip()] = name
for dev in meta["devices"]:
    seen = os.path.realpath(f"/sys/class/net/{nics[dev['mac']]}/device")
    print("ZC-DEV", dev["type"], dev["bus"], dev["address"], ",".join(dev["tags"]),
          os.path.basename(os.path.dirname(seen)))
"""
).decode()
USER_DATA = USER_DATA.replace("{READ_META}", READ_META).replace("{READ_DEVICES}", READ_DEVICES)
BUS = {"s390x": "ccw", "x86_64": "pci"}


class TestNovaConfigDrive(NovaHarnessTest):
    def test_s390x_guest_reads_its_identity_from_the_drive(self) -> None:
        self._boot_with_drive("s390x")

    def test_x86_64_guest_reads_its_identity_from_the_drive(self) -> None:
        self._boot_with_drive("x86_64")

    def upload_cloud_image(self, arch: str) -> str:
        built = build_cloud_image(arch, DATA_DIR)
        kernel = self._upload(f"debian-{arch}-kernel", "aki", built.kernel.read_bytes())
        ramdisk = self._upload(f"debian-{arch}-initrd", "ari", built.initrd.read_bytes())
        props = {
            "kernel_id": kernel,
            "ramdisk_id": ramdisk,
            # the tagged port has an address on a network nothing else is on: cloud-init must
            # not configure it (the tests send no IP traffic)
            "os_command_line": f"{ROOT_CMDLINE} network-config=disabled",
            "hw_emulation_architecture": arch,
            "hw_qemu_guest_agent": "yes",
        }
        return self._upload(f"debian-{arch}", "qcow2", built.disk.read_bytes(), props)

    def _boot_with_drive(self, arch: str) -> None:
        image = self.upload_cloud_image(arch)
        self.api.post_keypair({"keypair": {"name": "zc-key", "public_key": KEY}})
        body: dict[str, Any] = self._build_server(
            image_uuid=image,
            flavor_id=self.flavor(memory_mb=1024, disk_gb=3),
            networks=[{"uuid": self.neutron.network_1["id"], "tag": "zc-tagged"}],
        )
        body.update(
            config_drive=True,
            key_name="zc-key",
            user_data=base64.b64encode(USER_DATA.encode()).decode(),
            metadata={"role": "zc-config-drive-test"},
        )
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        text = self.wait_console(server, "ZC-DONE", timeout=600)
        report = "\n".join(line for line in text.splitlines() if "ZC-" in line)
        assert f"ZC-UUID {server['id']}" in report, report
        assert f"ZC-HOST {server['OS-EXT-SRV-ATTR:hostname']}" in report, report
        assert "ZC-META zc-config-drive-test" in report, report
        assert "ZC-KEY zcompute-test" in report, report
        # a virtio disk on s390x too (its CCW probe order decides which vdX it is)
        assert re.search(r"ZC-DRIVE /dev/vd[a-z]", report), report
        # the tagged port is on the drive at the bus address the guest sees its NIC at
        (device,) = re.findall(r"ZC-DEV nic (\S+) (\S+) zc-tagged (\S+)", report)
        bus, address, seen = device
        assert (bus, address) == (BUS[arch], seen), report
        port = self.port_of(server)
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server, ["tap" + port["id"][:11]]) == []
