"""Making a Cinder volume ready for a guest, the one way for attach and for a root volume.

iSCSI: QEMU logs in itself, so nothing is connected on the host; a path is chosen and the
volume's libvirt secrets (the CHAP password, a LUKS passphrase) are named here and defined
by the caller once the instance's record exists (:mod:`._secrets`). Fibre Channel: the
connector makes the LUN a local block device; its undo is registered before anything else
can fail, and the connection is recorded with the disk so destroy and recovery undo it.

A swap journals both volumes' connections (:func:`journal_swap`) before the guest can switch
over, and settles them (:func:`settle_swap_connections`) once it is known which volume the guest
uses: that one's connection stays recorded, the other one is disconnected, then forgotten. A
disconnect repeated after an interruption finds nothing left to undo, so every step may run
again; detach and destroy release the connections of an unsettled journal too.
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
from zcompute.model import BlockDeviceSpec, new_uuid
from zcompute.state import StateDB
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

__all__ = [
    "FC",
    "PreparedVolume",
    "connect_fc",
    "connections_of",
    "disconnect_fc",
    "journal_swap",
    "prepare_iscsi",
    "prepare_volume",
    "settle_swap_connections",
]

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


def journal_swap(
    ctx: DriverContext,
    uuid: str,
    old: BlockDeviceSpec,
    new_source: str,
    new_connection: Mapping[str, Any] | None,
) -> None:
    """Journal a swap of volume ``old`` onto ``new_source`` (connected as ``new_connection``,
    if at all) before the guest can switch over; nothing when neither volume has a connection."""
    old_connection = ctx.db.volume_connections(uuid).get(old.target)
    if old_connection is None and new_connection is None:
        return
    journal = {
        "old": {"source": str(old.source), "connection": old_connection},
        "new": {"source": new_source, "connection": _plain(new_connection)},
    }
    ctx.db.set_swap_journal(uuid, old.target, journal)


def settle_swap_connections(ctx: DriverContext, uuid: str, target: str) -> list[str]:
    """Settle the journal of a swap of ``target``: the connection of the volume the record
    names stays recorded, the other one is disconnected and the journal forgotten (each step
    can run again); says what was done."""
    journal = ctx.db.swap_journals(uuid).get(target)
    if journal is None:
        return []
    inst = ctx.db.get_instance(uuid)
    spec = next((b for b in inst.block_devices if b.target == target), None)
    uses_new = spec is not None and str(spec.source) == journal["new"]["source"]
    kept, dropped = (journal["new"], journal["old"])
    if not uses_new:
        kept, dropped = dropped, kept
    ctx.db.settle_volume_connection(uuid, target, kept["connection"])
    done = []
    if dropped["connection"] is not None:
        disconnect_fc(dropped["connection"])
        done.append(f"FC volume {dropped['source']}, which {target} no longer uses, disconnected")
    ctx.db.set_swap_journal(uuid, target, None)
    return done


def connections_of(db: StateDB, uuid: str) -> dict[str, list[dict[str, Any]]]:
    """target -> every host connection recorded for it: the volume's own and, while a swap is
    unsettled, those of its journal (each once)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for target, record in db.volume_connections(uuid).items():
        found.setdefault(target, []).append(record)
    for target, journal in db.swap_journals(uuid).items():
        records = found.setdefault(target, [])
        for side in ("old", "new"):
            record = journal[side]["connection"]
            if record is not None and record not in records:
                records.append(record)
    return found


def _plain(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if record is None else dict(record)


def _connector(record: Mapping[str, Any]) -> FibreChannelConnector:
    return FibreChannelConnector(
        arch=record["arch"], root=Path(record["root"]), **record.get("options", {})
    )
