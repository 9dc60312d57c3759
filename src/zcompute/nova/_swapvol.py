"""Extend and swap an attached Cinder volume: Nova's ``extend_volume`` and ``swap_volume``.

Nova calls ``extend_volume`` after Cinder grew a volume (the guest is told the new size) and
``swap_volume`` when Cinder migrates or retypes an attached volume (the guest's disk moves onto
the new volume under it, zcompute's block copy and pivot). Both translate Nova's objects and call
zcompute's driver, which refuses what it cannot do (a shrink, a new volume of another size) with
an error Nova reports.

The new volume of a swap is connected the way an attach connects it: an iSCSI volume is a
network disk QEMU logs in to (its CHAP and LUKS secrets defined for the guest), an FC volume a
LUN the host connects (``swap_volume_connection``); zcompute disconnects the old volume and
removes its secrets once the guest left it. A volume whose ``connection_info`` already names a
host device (``local``, or FC with a ``device_path``) is swapped onto that device.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nova import exception

from zcompute.errors import InvalidInput, NotFound
from zcompute.nova._base import AdapterBase
from zcompute.nova._devicemeta import mapped_volumes
from zcompute.nova._volumes import volume_encryption
from zcompute.volumes import FC_VOLUME_TYPE, ISCSI, DiskSource

__all__ = ["SwapVolumeMethods", "connects_itself", "volume_source_of"]

_GIB = 1 << 30
_LOCAL_TYPES = ("local", "fibre_channel")


class SwapVolumeMethods(AdapterBase):
    """Nova's extend and swap of volumes attached to this service's guests."""

    def extend_volume(
        self, context: Any, connection_info: Mapping[str, Any], instance: Any, requested_size: int
    ) -> None:
        with self._guest(instance) as uuid:
            target = self._target_of(context, uuid, connection_info)
            self.zc.extend_volume(uuid, target, int(requested_size))

    def swap_volume(
        self,
        context: Any,
        old_connection_info: Mapping[str, Any],
        new_connection_info: Mapping[str, Any],
        instance: Any,
        mountpoint: str,
        resize_to: int,
    ) -> None:
        with self._guest(instance) as uuid:
            target = mountpoint.rpartition("/")[2]  # "/dev/vdb" -> "vdb"
            if connects_itself(new_connection_info):
                swapped = self.zc.swap_volume_connection(
                    uuid,
                    target,
                    new_connection_info,
                    encryption=volume_encryption(context, new_connection_info, None),
                )
            else:
                swapped = self.zc.swap_volume(uuid, target, volume_source_of(new_connection_info))
            if resize_to and resize_to * _GIB > (swapped.size_bytes or 0):
                self.zc.extend_volume(uuid, target, resize_to * _GIB)

    def _target_of(self, context: Any, uuid: str, connection_info: Mapping[str, Any]) -> str:
        """The guest's target of the volume ``connection_info`` names: where Nova's block
        device mapping of that volume says it is (any transport, network volumes too)."""
        data = connection_info.get("data") or {}
        volume_id = str(data.get("volume_id") or connection_info.get("serial") or "")
        for target, mapped in mapped_volumes(context, uuid).items():
            if mapped.volume_id == volume_id:
                return target
        raise NotFound("volume", f"{volume_id} of instance {uuid}")


def connects_itself(connection_info: Mapping[str, Any]) -> bool:
    """Whether zcompute connects the volume (an iSCSI one; an FC one without a device)."""
    kind = connection_info.get("driver_volume_type")
    data = connection_info.get("data") or {}
    return kind == ISCSI or (kind == FC_VOLUME_TYPE and not data.get("device_path"))


def volume_source_of(connection_info: Mapping[str, Any]) -> DiskSource:
    """The block device the host already has that ``connection_info`` names: a "local"
    volume, or a "fibre_channel" one whose data names its device path."""
    kind = connection_info.get("driver_volume_type")
    data = connection_info.get("data") or {}
    path = data.get("device_path")
    if kind not in _LOCAL_TYPES or not path:
        raise exception.VolumeDriverNotFound(driver_type=f"{kind} (without a device_path)")
    serial = str(connection_info.get("serial") or data.get("volume_id") or "")
    if not serial:
        raise InvalidInput("connection_info.serial", "no volume id", "the Cinder volume id")
    return DiskSource(path=str(path), serial=serial)
