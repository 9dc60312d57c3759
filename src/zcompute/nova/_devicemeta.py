"""Device role tags between Nova and zcompute: the tags Nova keeps, the metadata it serves.

Nova keeps a port's tag on its ``VirtualInterface`` record and a volume's on its block device
mapping, not in the ``network_info`` or ``connection_info`` a driver is handed; zcompute
records tags with the devices themselves. What the guest learns back is Nova's
``instance.device_metadata``, which Nova's metadata API serves: a NIC or disk with its tags
and, where Nova has a type for the bus, its address. Nova has PCI, USB, SCSI, IDE and Xen bus
types but none for IBM Z's channel subsystem, so on s390x the metadata API lists tagged
devices without an address; zcompute's config drive (its own) carries the CCW bus id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from nova import objects

from zcompute.driver import TaggedDevice
from zcompute.nova._devnames import short_name

__all__ = ["MappedVolume", "mapped_volumes", "save_device_metadata", "vif_tags"]


class MappedVolume(NamedTuple):
    """What Nova's block device mapping of a volume says: its id and its tag."""

    volume_id: str
    tag: str | None


def vif_tags(context: Any, instance: Any) -> dict[str, str]:
    """The tag of each of the instance's ports that has one, by MAC address."""
    vifs = objects.VirtualInterfaceList.get_by_instance_uuid(context, instance.uuid)
    return {str(vif.address).lower(): str(vif.tag) for vif in vifs if "tag" in vif and vif.tag}


def mapped_volumes(context: Any, uuid: str) -> dict[str, MappedVolume]:
    """The instance's volumes by device name (``vdb``), as Nova's mappings record them."""
    bdms = objects.BlockDeviceMappingList.get_by_instance_uuid(context, uuid)
    return {
        short_name(b.device_name): MappedVolume(str(b.volume_id), b.tag or None)
        for b in bdms
        if b.device_name and b.volume_id
    }


def save_device_metadata(context: Any, instance: Any, devices: Sequence[TaggedDevice]) -> None:
    """Record the tagged devices as Nova's device metadata of ``instance``."""
    volumes = mapped_volumes(context, instance.uuid) if devices else {}
    found = [_nova_device(device, volumes) for device in devices]
    # kept once there is some (empty then): Nova's manager reads it after a tagged detach
    had = instance.obj_attr_is_set("device_metadata") and instance.device_metadata is not None
    instance.device_metadata = (
        objects.InstanceDeviceMetadata(devices=found) if found or had else None
    )
    instance.save()


def _nova_device(device: TaggedDevice, volumes: dict[str, MappedVolume]) -> Any:
    if device.kind == "nic":
        meta = objects.NetworkInterfaceMetadata(
            mac=device.mac, tags=list(device.tags), vf_trusted=False
        )
    else:
        meta = objects.DiskMetadata(tags=list(device.tags))
        # the whole volume id, as Nova's own driver has it (the guest's serial holds 20 bytes)
        mapped = volumes.get(device.target or "")
        serial = mapped.volume_id if mapped else device.serial
        if serial is not None:
            meta.serial = serial
    if device.bus == "pci":
        meta.bus = objects.PCIDeviceBus(address=device.address)
    return meta
