"""Device names Nova records for a guest's disks, as zcompute's plan will choose them."""

from __future__ import annotations

from typing import Any

from zcompute.arch import get_profile
from zcompute.nova._base import AdapterBase
from zcompute.nova._translate import guest_arch
from zcompute.plan import target_name
from zcompute.properties import DISK_BUS_PROPERTY, EMULATION_ARCH_PROPERTY, IMAGE_ARCH_PROPERTY

__all__ = ["DeviceNameMethods", "short_name"]

_ARCH_KEYS = (EMULATION_ARCH_PROPERTY, IMAGE_ARCH_PROPERTY)


class DeviceNameMethods(AdapterBase):
    """The root and other device names Nova asks a driver for."""

    def default_root_device_name(self, instance: Any, image_meta: Any, root_bdm: Any) -> str:
        return "/dev/" + target_name(_disk_bus(image_meta, self.zc.host.caps.arch), 0)

    def default_device_names_for_instance(
        self, instance: Any, root_device_name: str, *block_device_lists: Any
    ) -> None:
        root = short_name(root_device_name)
        used = {root}
        for bdms in block_device_lists:
            for bdm in bdms:
                _name_scratch_disk(bdm, root, instance.flavor)
        for bdms in block_device_lists:
            for bdm in bdms:
                if bdm.device_name:
                    used.add(short_name(bdm.device_name))
        for bdms in block_device_lists:
            for bdm in bdms:
                if not bdm.device_name:
                    bdm.device_name = "/dev/" + _next_free(used)
                    used.add(short_name(bdm.device_name))
                    bdm.save()

    def get_device_name_for_instance(self, instance: Any, bdms: Any, block_device_obj: Any) -> str:
        used = {short_name(b.device_name) for b in bdms if b.device_name}
        if instance.root_device_name:
            used.add(short_name(instance.root_device_name))
        return "/dev/" + _next_free(used)


def _name_scratch_disk(bdm: Any, root: str, flavor: Any) -> None:
    """Record an ephemeral or swap disk under the target the plan gives it: the names after
    the root disk's on its bus, the ephemeral disk first (``vdb``, then swap ``vdc``)."""
    if bdm.source_type != "blank" or bdm.destination_type != "local":
        return
    index = 1 + int(bool(flavor.ephemeral_gb)) if bdm.guest_format == "swap" else 1
    name = "/dev/" + root[:2] + target_name("virtio", index)[2:]
    if bdm.device_name != name:
        bdm.device_name = name
        bdm.save()


def _disk_bus(image_meta: Any, host_arch: str) -> str:
    """The root disk's bus as zcompute's plan will choose it: the image's ``hw_disk_bus``, or
    the default bus of the guest architecture's profile."""
    props = image_meta.properties
    bus = props.get(DISK_BUS_PROPERTY)
    if bus:
        return str(bus)
    raw = {key: str(props.get(key)) for key in _ARCH_KEYS if props.get(key)}
    return get_profile(guest_arch(raw, host_arch)).disk_bus


def short_name(device: str) -> str:
    """``/dev/vdb`` -> ``vdb``."""
    return device.rsplit("/", 1)[-1]


def _next_free(used: set[str]) -> str:
    index = 0
    while target_name("virtio", index) in used:
        index += 1
    return target_name("virtio", index)
