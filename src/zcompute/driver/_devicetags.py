"""Device role tags: which of a guest's devices carry a tag, and where the guest finds them.

A tag (``NICSpec.tag``, ``BlockDeviceSpec.tag``) names a device's role ("data", "mgmt"); the
guest learns which of its devices has which role from its device metadata, OpenStack's
``devices`` list in ``meta_data.json``. Each entry carries the bus address the guest sees
its device at: a CCW bus id (``0.0.0002``) on IBM Z, a PCI address (``0000:00:03.0``)
elsewhere. The address is libvirt's (assigned when the domain is defined), read back from
the domain's XML, never guessed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from zcompute.model import Instance
from zcompute.xml import Address, Domain

__all__ = ["TaggedDevice", "openstack_devices", "tagged_devices"]


@dataclasses.dataclass(frozen=True)
class TaggedDevice:
    """A device with a role tag: what it is, the bus and address the guest sees it at."""

    kind: Literal["nic", "disk"]
    bus: str  # "ccw", "pci", or "none" where the address is of neither kind
    address: str
    tags: tuple[str, ...]
    mac: str | None = None  # NICs
    serial: str | None = None  # disks (the volume id, as Nova's device metadata has it)
    target: str | None = None  # disks: the host-side target name (vdb)

    def as_openstack(self) -> dict[str, Any]:
        """The entry of OpenStack's ``meta_data.json`` ``devices`` list."""
        entry: dict[str, Any] = {
            "type": self.kind,
            "bus": self.bus,
            "address": self.address,
            "tags": list(self.tags),
        }
        if self.kind == "nic":
            entry["mac"] = self.mac
        elif self.serial is not None:
            entry["serial"] = self.serial
        return entry


def tagged_devices(domain_xml: str, inst: Instance) -> tuple[TaggedDevice, ...]:
    """The tagged NICs and disks of ``inst`` with their addresses in ``domain_xml``.

    A tagged device the XML does not have (not attached yet) is left out.
    """
    devices = Domain.from_xml(domain_xml).devices
    nic_tags = {nic.mac: nic.tag for nic in inst.nics if nic.tag}
    disk_tags = {disk.target: disk for disk in inst.block_devices if disk.tag}
    found: list[TaggedDevice] = []
    for iface in devices.interfaces:
        tag = nic_tags.get(iface.mac or "")
        if tag:
            bus, address = _bus_address(iface.address)
            found.append(TaggedDevice("nic", bus, address, (tag,), mac=iface.mac))
    for disk in devices.disks:
        spec = disk_tags.get(disk.target_dev or "")
        if spec is not None and spec.tag:
            bus, address = _bus_address(disk.address)
            found.append(
                TaggedDevice(
                    "disk", bus, address, (spec.tag,), serial=spec.serial, target=spec.target
                )
            )
    return tuple(found)


def openstack_devices(devices: Sequence[TaggedDevice]) -> list[dict[str, Any]]:
    """``meta_data.json``'s ``devices``: every tagged device, as OpenStack lists them."""
    return [device.as_openstack() for device in devices]


def _bus_address(address: Address | None) -> tuple[str, str]:
    if address is None:
        return "none", "none"
    if address.type == "ccw":
        # a guest's CCW bus id is 0.<ssid>.<devno>: QEMU's virtual channel subsystem (cssid
        # 0xfe in libvirt's XML) is the guest's css 0 unless it enables MCSS-E, which Linux
        # does not (measured: cssid 0xfe devno 0x0002 is 0.0.0002 in the guest's sysfs)
        return "ccw", f"0.{address.ssid:x}.{address.devno:04x}"
    if address.type == "pci":
        return "pci", (
            f"{address.domain:04x}:{address.bus:02x}:{address.slot:02x}.{address.function:x}"
        )
    return "none", "none"
