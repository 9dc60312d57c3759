"""The volume operations of :class:`~zcompute.driver.ComputeDriver`, one facade method each.

A mixin of the driver's facade (kept apart so that the facade stays readable): each method is
bound to its support-matrix feature and delegates to its part, which the driver builds
(:mod:`._devices`, :mod:`._fc`, :mod:`._iscsi`, extend and swap in :mod:`._volumeswap`, swap
onto a volume zcompute connects in :mod:`._swapconnect`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zcompute.driver._devices import DEFAULT_DETACH_TIMEOUT, DeviceOps
from zcompute.driver._fc import FcVolumeOps
from zcompute.driver._features import host_operation, operation
from zcompute.driver._iscsi import IscsiVolumeOps
from zcompute.driver._swapconnect import SwapConnectionOps
from zcompute.driver._volumeswap import DEFAULT_SWAP_TIMEOUT, VolumeChangeOps
from zcompute.model import BlockDeviceSpec
from zcompute.volumes import (
    ISCSI,
    DiskSource,
    HostVolumePorts,
    VolumeConnection,
    VolumeEncryption,
)

__all__ = ["VolumeOperations"]


class VolumeOperations:  # the driver's map_os_errors wraps these methods too
    """Attach, detach, extend and swap volumes (local, FC, iSCSI); the host's connector."""

    _devices: DeviceOps
    _fc: FcVolumeOps
    _iscsi: IscsiVolumeOps
    _volume_changes: VolumeChangeOps
    _swap_connections: SwapConnectionOps

    @operation("attach-volume")
    def attach_volume(
        self,
        name_or_uuid: str,
        volume: BlockDeviceSpec | DiskSource | Path | str,
        *,
        target: str | None = None,
        bus: str | None = None,
        readonly: bool = False,
        serial: str | None = None,
        disk_format: str | None = None,
        tag: str | None = None,
    ) -> BlockDeviceSpec:
        return self._devices.attach_volume(
            name_or_uuid,
            volume,
            target=target,
            bus=bus,
            readonly=readonly,
            serial=serial,
            disk_format=disk_format,
            tag=tag,
        )

    @operation("attach-volume")
    def detach_volume(
        self, name_or_uuid: str, target: str, timeout: float = DEFAULT_DETACH_TIMEOUT
    ) -> BlockDeviceSpec:
        return self._fc.detach_volume(name_or_uuid, target, timeout)  # disconnects FC too

    @operation("attach-volume-fc")
    def attach_fc_volume(
        self,
        name_or_uuid: str,
        connection_info: Mapping[str, Any],
        *,
        target: str | None = None,
        root: Path = Path("/"),
        host_arch: str | None = None,
        connector_options: Mapping[str, Any] | None = None,
        tag: str | None = None,
    ) -> BlockDeviceSpec:
        return self._fc.attach_fc_volume(
            name_or_uuid,
            connection_info,
            target=target,
            root=root,
            host_arch=host_arch,
            connector_options=connector_options,
            tag=tag,
        )

    @operation("attach-volume")
    def extend_volume(
        self, name_or_uuid: str, target: str, new_size_bytes: int | None = None
    ) -> BlockDeviceSpec:
        return self._volume_changes.extend_volume(name_or_uuid, target, new_size_bytes)

    @operation("swap-volume")
    def swap_volume(
        self,
        name_or_uuid: str,
        target: str,
        new_volume: BlockDeviceSpec | DiskSource | Path | str,
        *,
        timeout: float = DEFAULT_SWAP_TIMEOUT,
    ) -> BlockDeviceSpec:
        return self._volume_changes.swap_volume(name_or_uuid, target, new_volume, timeout=timeout)

    @operation("swap-volume")
    def swap_volume_connection(
        self,
        name_or_uuid: str,
        target: str,
        connection_info: Mapping[str, Any],
        *,
        encryption: VolumeEncryption | None = None,
        timeout: float = DEFAULT_SWAP_TIMEOUT,
        root: Path = Path("/"),
        host_arch: str | None = None,
        connector_options: Mapping[str, Any] | None = None,
    ) -> BlockDeviceSpec:
        """Move volume ``target`` of a running guest onto a Cinder volume by its
        ``connection_info``, which zcompute connects as attach does (``fibre_channel``: the
        host connects the LUN; ``iscsi``: QEMU logs in itself, CHAP and LUKS secrets defined
        for the instance); the old volume's connection and secrets go once the guest left it.
        ``encryption`` opens a LUKS volume (iSCSI only); ``root``, ``host_arch`` and
        ``connector_options`` as for :meth:`attach_fc_volume`."""
        return self._swap_connections.swap_volume_connection(
            name_or_uuid,
            target,
            connection_info,
            encryption=encryption,
            timeout=timeout,
            root=root,
            host_arch=host_arch,
            connector_options=connector_options,
        )

    @operation("attach-volume-iscsi")
    def attach_iscsi_volume(
        self,
        name_or_uuid: str,
        connection_info: Mapping[str, Any],
        *,
        target: str | None = None,
        bus: str | None = None,
        shareable: bool = False,
        encryption: VolumeEncryption | None = None,
        tag: str | None = None,
    ) -> BlockDeviceSpec:
        return self._iscsi.attach_iscsi_volume(
            name_or_uuid,
            connection_info,
            target=target,
            bus=bus,
            shareable=shareable,
            encryption=encryption,
            tag=tag,
        )

    @operation("attach-volume")
    def attach_volume_connection(
        self,
        name_or_uuid: str,
        connection_info: Mapping[str, Any],
        *,
        target: str | None = None,
        bus: str | None = None,
        shareable: bool = False,
        encryption: VolumeEncryption | None = None,
        tag: str | None = None,
    ) -> BlockDeviceSpec:
        """Attach a Cinder volume by its ``connection_info``, whatever its transport: the one
        entry point for Nova. ``driver_volume_type`` picks the path (``fibre_channel``:
        the host connects the LUN; ``iscsi``: QEMU logs in itself); :meth:`detach_volume`
        undoes either. ``shareable`` (or the connection's ``multiattach``) lets other guests
        have the volume too; ``encryption`` opens a LUKS volume (iSCSI only)."""
        volume = VolumeConnection(connection_info, encryption, bus, tag, shareable)
        if volume.kind == ISCSI:
            return self.attach_iscsi_volume(
                name_or_uuid,
                connection_info,
                target=target,
                bus=bus,
                shareable=shareable,
                encryption=encryption,
                tag=tag,
            )
        return self.attach_fc_volume(name_or_uuid, connection_info, target=target, tag=tag)

    @host_operation("attach-volume")
    def volume_connector(self, root: Path = Path("/")) -> HostVolumePorts:
        """What Cinder needs to export a volume to this host (Nova's volume connector): the
        iSCSI initiator name and the online FC ports (``root``: where sysfs is read)."""
        ports = self._fc.online_ports(root)
        return HostVolumePorts(
            iscsi_initiator=self._iscsi.initiator_name(),
            fc_wwpns=tuple(wwpn for wwpn, _ in ports),
            fc_wwnns=tuple(wwnn for _, wwnn in ports),
        )

    @host_operation("attach-volume-iscsi")
    def iscsi_initiator_name(self) -> str:
        """This host's iSCSI initiator name (for Nova's connector properties and target ACLs):
        open-iscsi's, else one generated once and kept in the data directory."""
        return self._iscsi.initiator_name()
