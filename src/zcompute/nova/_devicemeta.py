"""Device role tags between Nova and zcompute: the tags Nova keeps, the metadata it serves.

Nova keeps a port's tag on its ``VirtualInterface`` record (and a volume's on its block device
mapping), not in the ``network_info`` a driver is handed; zcompute records tags with the
devices themselves. What the guest learns back is Nova's ``instance.device_metadata``, which
Nova's metadata API serves: a NIC or disk with its tags and, where Nova has a type for the
bus, its address. Nova has PCI, USB, SCSI, IDE and Xen bus types but none for IBM Z's channel
subsystem, so on s390x the metadata API lists tagged devices without an address; zcompute's
config drive (its own) carries the CCW bus id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nova import objects

from zcompute.driver import TaggedDevice

__all__ = ["save_device_metadata", "vif_tags"]


def vif_tags(context: Any, instance: Any) -> dict[str, str]:
    """The tag of each of the instance's ports that has one, by MAC address."""
    vifs = objects.VirtualInterfaceList.get_by_instance_uuid(context, instance.uuid)
    return {str(vif.address).lower(): str(vif.tag) for vif in vifs if "tag" in vif and vif.tag}


def save_device_metadata(instance: Any, devices: Sequence[TaggedDevice]) -> None:
    """Record the tagged devices as Nova's device metadata of ``instance``."""
    found = [_nova_device(device) for device in devices]
    instance.device_metadata = objects.InstanceDeviceMetadata(devices=found) if found else None
    instance.save()


def _nova_device(device: TaggedDevice) -> Any:
    if device.kind == "nic":
        meta = objects.NetworkInterfaceMetadata(
            mac=device.mac, tags=list(device.tags), vf_trusted=False
        )
    else:
        meta = objects.DiskMetadata(tags=list(device.tags))
        if device.serial is not None:
            meta.serial = device.serial
    if device.bus == "pci":
        meta.bus = objects.PCIDeviceBus(address=device.address)
    return meta
