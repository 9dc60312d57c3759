"""Making a Cinder volume ready for a guest, the one way for attach and for a root volume.

iSCSI: QEMU logs in itself, so nothing is connected on the host; a path is chosen and the
volume's libvirt secrets (the CHAP password, a LUKS passphrase) are named here and defined
by the caller once the instance's record exists (:mod:`._secrets`). Fibre Channel: the
connector makes the LUN a local block device; its undo is registered before anything else
can fail, and the connection is recorded with the disk so destroy and recovery undo it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zcompute.driver._context import DriverContext
from zcompute.driver._secrets import NewSecret
from zcompute.driver._undo import UndoStack
from zcompute.errors import InvalidInput
from zcompute.model import new_uuid
from zcompute.volumes import (
    FC_VOLUME_TYPE,
    LUKS_PROVIDERS,
    ConnectedVolume,
    DiskSource,
    FibreChannelConnector,
    VolumeConnection,
    VolumeEncryption,
    choose_path,
    iscsi_initiator_name,
    parse_iscsi_connection_info,
)

__all__ = ["FC", "PreparedVolume", "connect_fc", "disconnect_fc", "prepare_iscsi", "prepare_volume"]

FC = "fc"  # the driver name a recorded FC connection carries


@dataclasses.dataclass(frozen=True)
class PreparedVolume:
    """A volume ready to become a guest disk: its source, the secrets its disk names (to be
    defined for the instance), and the record of a host connection to undo later."""

    source: DiskSource
    secrets: tuple[NewSecret, ...] = ()
    connection: Mapping[str, Any] | None = None


def prepare_iscsi(
    ctx: DriverContext,
    connection_info: Mapping[str, Any],
    encryption: VolumeEncryption | None,
    shareable: bool,
) -> PreparedVolume:
    """The network disk of an iSCSI volume and its secrets (see the module docs)."""
    info = parse_iscsi_connection_info(connection_info)
    if info.encrypted and encryption is None:
        raise InvalidInput(
            "encryption",
            f"volume {info.volume_id} is encrypted: give its provider and passphrase",
            LUKS_PROVIDERS,
        )
    secrets = []
    chap = luks = None
    if info.auth_password is not None:
        chap = new_uuid()
        password = info.auth_password.encode()
        purpose = f"CHAP password of volume {info.volume_id}"
        secrets.append(NewSecret(chap, "iscsi", purpose, password))
    if encryption is not None:
        luks = new_uuid()
        purpose = f"LUKS passphrase of volume {info.volume_id}"
        secrets.append(NewSecret(luks, "volume", purpose, encryption.passphrase))
    network = info.disk_source(choose_path(info), chap, iscsi_initiator_name(ctx.config.data_dir))
    source = DiskSource(
        type="network",
        path=str(network),
        serial=info.volume_id,
        network=network,
        readonly=info.readonly,
        shareable=shareable or info.multiattach,
        encryption_secret=luks,
    )
    return PreparedVolume(source, tuple(secrets))


def connect_fc(
    ctx: DriverContext,
    connection_info: Mapping[str, Any],
    undo: UndoStack,
    *,
    root: Path = Path("/"),
    host_arch: str | None = None,
    connector_options: Mapping[str, Any] | None = None,
) -> PreparedVolume:
    """Connect an FC volume on the host; ``undo`` disconnects it if a later step fails.

    ``root`` is the filesystem root the connector works under and ``host_arch`` the
    architecture whose FC stack it drives; both default to this host (tests emulate an
    IBM Z LPAR's sysfs under a temporary root).
    """
    record: dict[str, Any] = {
        "driver": FC,
        "arch": host_arch or ctx.host.caps.arch,
        "root": str(root),
        "options": dict(connector_options or {}),
        "connection_info": dict(connection_info),
    }
    connector = _connector(record)
    connected = connector.connect(connection_info)
    undo.push("disconnect the FC volume", lambda: connector.disconnect(connection_info, connected))
    record["connected"] = connected.to_dict()
    return PreparedVolume(connected.disk_source(), connection=record)


def prepare_volume(ctx: DriverContext, volume: VolumeConnection, undo: UndoStack) -> PreparedVolume:
    """An iSCSI volume's disk and secrets, or an FC volume connected (undone by ``undo``)."""
    if volume.kind == FC_VOLUME_TYPE:
        return connect_fc(ctx, volume.connection_info, undo)
    return prepare_iscsi(ctx, volume.connection_info, volume.encryption, volume.shareable)


def disconnect_fc(record: Mapping[str, Any]) -> None:
    """Undo a recorded FC connection (its guest let go of the LUN)."""
    connected = ConnectedVolume.from_dict(record["connected"])
    _connector(record).disconnect(record["connection_info"], connected)


def _connector(record: Mapping[str, Any]) -> FibreChannelConnector:
    return FibreChannelConnector(
        arch=record["arch"], root=Path(record["root"]), **record.get("options", {})
    )
