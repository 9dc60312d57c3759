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
from zcompute.errors import ZcomputeError
from zcompute.model import BlockDeviceSpec
from zcompute.state import StateDB
from zcompute.volumes import ConnectedVolume, FibreChannelConnector, HostFs, discover_fc_hbas

__all__ = ["FcVolumeOps", "release_volume_connections"]

FC = "fc"


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
        """Connect an FC volume (Cinder's ``connection_info``) and attach it to the guest.

        ``root`` is the filesystem root the connector works under and ``host_arch`` the
        architecture whose FC stack it drives; both default to this host (tests emulate an
        IBM Z LPAR's sysfs under a temporary root). The connection is recorded with the
        attachment.
        """
        options = dict(connector_options or {})
        record = {
            "driver": FC,
            "arch": host_arch or self._ctx.host.caps.arch,
            "root": str(root),
            "options": options,
            "connection_info": dict(connection_info),
        }
        connector = _connector(record)
        devices = self._devices
        with UndoStack(guard=self._ctx.hv.when_back) as undo:
            connected = connector.connect(connection_info)
            undo.push(
                "disconnect the FC volume", lambda: connector.disconnect(connection_info, connected)
            )
            record["connected"] = connected.to_dict()
            spec = devices.attach_volume(
                name_or_uuid, connected.disk_source(), target=target, tag=tag
            )
            detach = devices.detach_volume  # the plain detach: the connection is undone above
            undo.push(f"detach {spec.target}", lambda: detach(name_or_uuid, spec.target))
            uuid = self._ctx.db.get_instance(name_or_uuid).uuid
            self._ctx.db.set_volume_connection(uuid, spec.target, record)
        return spec

    def detach_volume(
        self, name_or_uuid: str, target: str, timeout: float = DEFAULT_DETACH_TIMEOUT
    ) -> BlockDeviceSpec:
        """Detach the volume; one a connector made local is disconnected on the host too."""
        uuid = self._ctx.db.get_instance(name_or_uuid).uuid
        record = self._ctx.db.volume_connections(uuid).get(target)
        spec = self._devices.detach_volume(name_or_uuid, target, timeout)
        if record is not None:
            _disconnect(record)
        return spec


def release_volume_connections(db: StateDB, uuid: str) -> list[str]:
    """Disconnect every recorded volume of an instance (its guest is gone); errors listed.

    A function of the records alone: destroy and recovery release what attach recorded.
    """
    failed = []
    for target, record in db.volume_connections(uuid).items():
        try:
            _disconnect(record)
        except ZcomputeError as err:
            failed.append(f"{target}: {err}")
    return failed


def _connector(record: Mapping[str, Any]) -> FibreChannelConnector:
    return FibreChannelConnector(
        arch=record["arch"], root=Path(record["root"]), **record.get("options", {})
    )


def _disconnect(record: Mapping[str, Any]) -> None:
    connected = ConnectedVolume.from_dict(record["connected"])
    _connector(record).disconnect(record["connection_info"], connected)
