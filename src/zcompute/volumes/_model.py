"""The connector interface and the values that cross it.

A connector turns Cinder's ``connection_info`` into a local block device
(:class:`ConnectedVolume`) and back. The guest side is described by a neutral
:class:`DiskSource`; the driver's XML layer renders it and adds the device address
the architecture needs, so nothing here knows about libvirt XML.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from zcompute.model import NetworkDiskSource


@dataclass(frozen=True, kw_only=True)
class DiskSource:
    """What the guest disk is made of: a local block device (``<disk type='block'>``), or a
    volume QEMU reaches itself (``network``; ``path`` then only describes it)."""

    type: str = "block"
    path: str
    serial: str
    bus: str = "virtio"
    device: str = "disk"
    network: NetworkDiskSource | None = None
    readonly: bool = False
    shareable: bool = False
    encryption_secret: str | None = None  # the LUKS passphrase's libvirt secret


@dataclass(frozen=True, order=True)
class ZfcpUnit:
    """One LUN configured through zfcp's ``unit_add``: FCP device, target port, FCP LUN."""

    bus_id: str
    wwpn: str
    fcp_lun: str


@dataclass(frozen=True)
class HostVolumePorts:
    """What a storage system needs to export a volume to this host: the iSCSI initiator name
    and the WWPNs and WWNNs of the online FC ports (Cinder's "connector")."""

    iscsi_initiator: str
    fc_wwpns: tuple[str, ...] = ()
    fc_wwnns: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ConnectedVolume:
    """A volume attached to this host, with everything needed to undo the attachment.

    ``device_path`` is the resolved block device (``/dev/sdb`` or, with multipath,
    ``/dev/dm-3``) and ``by_path`` the udev link it was found through; both are paths
    on the filesystem this process sees (under the connector's root directory).
    ``path_devices`` are the SCSI disks (``sdb``) behind it, ``multipath_device`` the
    device-mapper map holding them (``dm-3``), and ``configured_units`` the zfcp units
    this connector added, which disconnect removes again (and only those).
    """

    volume_id: str
    device_path: str
    by_path: str
    path_devices: tuple[str, ...]
    multipath_device: str | None = None
    configured_units: tuple[ZfcpUnit, ...] = ()

    def disk_source(self) -> DiskSource:
        """The guest disk for this volume: the resolved block device, serial = volume id."""
        return DiskSource(path=self.device_path, serial=self.volume_id)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record, so a later process can disconnect exactly this volume."""
        data = dataclasses.asdict(self)
        data["configured_units"] = [dataclasses.asdict(u) for u in self.configured_units]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConnectedVolume:
        return cls(
            volume_id=str(data["volume_id"]),
            device_path=str(data["device_path"]),
            by_path=str(data["by_path"]),
            path_devices=tuple(data["path_devices"]),
            multipath_device=data.get("multipath_device"),
            configured_units=tuple(ZfcpUnit(**unit) for unit in data["configured_units"]),
        )


@runtime_checkable
class VolumeConnector(Protocol):
    """Attach and detach one kind of volume on this host."""

    def connect(self, connection_info: Mapping[str, Any]) -> ConnectedVolume:
        """Make the volume a local block device; on failure leave nothing configured."""
        ...

    def disconnect(self, connection_info: Mapping[str, Any], connected: ConnectedVolume) -> None:
        """Flush and remove what :meth:`connect` set up for ``connected``."""
        ...

    def initiator_properties(self) -> dict[str, Any]:
        """What the storage back end needs to know about this host's initiators."""
        ...
