"""Fibre Channel volumes: connect the LUN on the host, attach it, remember how, undo it later.

The connector (``zcompute.volumes``) makes a SAN LUN a local block device: zfcp units on IBM Z,
a SCSI host scan elsewhere (the architecture profile picks). The driver owns the whole
round trip, so a LUN never stays configured on the host after its guest lets go of it:
a failed attach disconnects again, and detach and destroy disconnect what attach recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._devices import DEFAULT_DETACH_TIMEOUT, DeviceOps
from zcompute.driver._undo import UndoStack
from zcompute.driver._volumeconnect import connect_fc, connections_of, disconnect_fc
from zcompute.errors import ZcomputeError
from zcompute.model import BlockDeviceSpec
from zcompute.state import StateDB
from zcompute.volumes import HostFs, discover_fc_hbas

__all__ = ["FcVolumeOps", "release_volume_connections"]


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class FcVolumeOps:
    """Fibre Channel attach and detach for :class:`~zcompute.driver.ComputeDriver`: the local
    attach and detach of :class:`DeviceOps`, with the host's connection made and undone."""

    def __init__(self, ctx: DriverContext, devices: DeviceOps) -> None:
        self._ctx = ctx
        self._devices = devices

    def online_ports(self, root: Path = Path("/")) -> tuple[tuple[str, str], ...]:
        """(WWPN, WWNN) of each online FC port of the host, as sysfs shows them."""
        hbas, _problems = discover_fc_hbas(HostFs(root))  # an unreadable port: not offered
        return tuple((hba.port_name, hba.node_name) for hba in hbas if hba.online)

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
        """Connect an FC volume (Cinder's ``connection_info``) and attach it to the guest;
        the connection is recorded with the attachment (``root``, ``host_arch``: see
        :func:`~._volumeconnect.connect_fc`)."""
        devices = self._devices
        with UndoStack(guard=self._ctx.hv.when_back) as undo:
            prepared = connect_fc(
                self._ctx,
                connection_info,
                undo,
                root=root,
                host_arch=host_arch,
                connector_options=connector_options,
            )
            spec = devices.attach_volume(name_or_uuid, prepared.source, target=target, tag=tag)
            detach = devices.detach_volume  # the plain detach: the connection is undone above
            undo.push(f"detach {spec.target}", lambda: detach(name_or_uuid, spec.target))
            uuid = self._ctx.db.get_instance(name_or_uuid).uuid
            assert prepared.connection is not None  # connect_fc records its connection
            self._ctx.db.set_volume_connection(uuid, spec.target, dict(prepared.connection))
        return spec

    def detach_volume(
        self, name_or_uuid: str, target: str, timeout: float = DEFAULT_DETACH_TIMEOUT
    ) -> BlockDeviceSpec:
        """Detach the volume; one a connector made local is disconnected on the host too
        (with the other volume of a swap that did not settle)."""
        uuid = self._ctx.db.get_instance(name_or_uuid).uuid
        records = connections_of(self._ctx.db, uuid).get(target, [])
        spec = self._devices.detach_volume(name_or_uuid, target, timeout)
        for record in records:
            disconnect_fc(record)
        return spec


def release_volume_connections(db: StateDB, uuid: str) -> list[str]:
    """Disconnect every recorded volume of an instance (its guest is gone); errors listed.

    A function of the records alone: destroy and recovery release what attach recorded.
    """
    failed = []
    for target, records in connections_of(db, uuid).items():
        for record in records:
            try:
                disconnect_fc(record)
            except ZcomputeError as err:
                failed.append(f"{target}: {err}")
    return failed
