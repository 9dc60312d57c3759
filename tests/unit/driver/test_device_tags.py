"""Device role tags: validated on the device, listed at libvirt's addresses, on the drive."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from tests.unit.driver.driver_support import kernel_boot_image

from zcompute.configdrive import ConfigDrive, config_drive_files
from zcompute.driver._devicetags import openstack_devices, tagged_devices
from zcompute.errors import InvalidInput
from zcompute.model import BlockDeviceSpec, Flavor, Instance, NICSpec

MAC1, MAC2 = "52:54:00:00:00:01", "52:54:00:00:00:02"

S390X = f"""<domain type='qemu'><name>g</name><devices>
  <disk type='file' device='disk'><source file='/d/root'/><target dev='vda' bus='virtio'/>
    <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0000'/></disk>
  <disk type='file' device='disk'><source file='/d/vol'/><target dev='vdb' bus='virtio'/>
    <serial>vol-1</serial><address type='ccw' cssid='0xfe' ssid='0x1' devno='0x0003'/></disk>
  <interface type='ethernet'><mac address='{MAC1}'/><target dev='tap1' managed='no'/>
    <model type='virtio'/><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0002'/></interface>
</devices></domain>"""

X86 = f"""<domain type='qemu'><name>g</name><devices>
  <interface type='ethernet'><mac address='{MAC1}'/><target dev='tap1' managed='no'/>
    <model type='virtio'/>
    <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></interface>
</devices></domain>"""


def _instance(nics: tuple[NICSpec, ...], disks: tuple[BlockDeviceSpec, ...] = ()) -> Instance:
    return Instance(
        uuid=str(uuid.uuid4()),
        name="g",
        flavor=Flavor("f", 1, 256, 1),
        image=kernel_boot_image("s390x"),
        arch="s390x",
        machine_type="s390-ccw-virtio",
        block_devices=disks,
        nics=nics,
    )


def test_s390x_devices_carry_the_ccw_bus_id_the_guest_sees() -> None:
    inst = _instance(
        (NICSpec(tap="tap1", mac=MAC1, tag="data"), NICSpec(tap="tap2", mac=MAC2, tag="gone")),
        (BlockDeviceSpec(Path("/d/vol"), "vdb", serial="vol-1", tag="db"),),
    )
    found = tagged_devices(S390X, inst)
    # the guest's css 0 is libvirt's virtual cssid 0xfe; a NIC not in the XML is left out
    assert openstack_devices(found) == [
        {"type": "nic", "bus": "ccw", "address": "0.0.0002", "tags": ["data"], "mac": MAC1},
        {"type": "disk", "bus": "ccw", "address": "0.1.0003", "tags": ["db"], "serial": "vol-1"},
    ]


def test_x86_devices_carry_their_pci_address() -> None:
    (nic,) = tagged_devices(X86, _instance((NICSpec(tap="tap1", mac=MAC1, tag="data"),)))
    assert (nic.bus, nic.address) == ("pci", "0000:01:00.0")


def test_untagged_devices_are_not_listed() -> None:
    assert tagged_devices(S390X, _instance((NICSpec(tap="tap1", mac=MAC1),))) == ()


@pytest.mark.parametrize("tag", ["", "a/b", "a,b", "x" * 61, "new\nline", 7])
def test_a_bad_tag_is_refused_naming_the_field(tag: object) -> None:
    with pytest.raises(InvalidInput, match=r"^nic\.tag: .*allowed: 1-60 printable"):
        NICSpec(tap="tap1", tag=tag)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"^block_device\.tag: "):
        BlockDeviceSpec(Path("/d/vol"), "vdb", tag=tag)  # type: ignore[arg-type]


def test_the_drive_lists_the_devices_in_meta_data() -> None:
    devices = [{"type": "nic", "bus": "ccw", "address": "0.0.0002", "tags": ["data"]}]
    files = config_drive_files(ConfigDrive(), uuid=str(uuid.uuid4()), name="g", devices=devices)
    assert json.loads(files["openstack/latest/meta_data.json"])["devices"] == devices
    bare = config_drive_files(ConfigDrive(), uuid=str(uuid.uuid4()), name="g")
    assert json.loads(bare["openstack/latest/meta_data.json"])["devices"] == []
