"""A Cinder volume as a guest is to get it: its ``connection_info`` and how to present it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zcompute.errors import InvalidInput
from zcompute.volumes._connection_info import DRIVER_VOLUME_TYPE as FC_VOLUME_TYPE
from zcompute.volumes._connection_info import parse_connection_info
from zcompute.volumes._iscsi import ISCSI, VolumeEncryption, parse_iscsi_connection_info

__all__ = ["VOLUME_TYPES", "VolumeConnection", "VolumeSecrets"]

#: The ``driver_volume_type`` values zcompute connects.
VOLUME_TYPES = (FC_VOLUME_TYPE, ISCSI)


@dataclass(frozen=True)
class VolumeConnection:
    """A volume by Cinder's ``connection_info`` (``fibre_channel``: the host connects the LUN;
    ``iscsi``: QEMU logs in itself), checked when made: every error names its field.

    ``bus``: the disk bus (default: the image's ``hw_disk_bus``, else the arch's);
    ``shareable``: other guests may have it too; ``encryption``: how to open a LUKS volume
    (iSCSI only); ``tag``: the device role tag the guest finds in its device metadata.
    """

    connection_info: Mapping[str, Any]
    encryption: VolumeEncryption | None = None
    bus: str | None = None
    tag: str | None = None
    shareable: bool = False

    def __post_init__(self) -> None:
        kind = self.kind
        if kind == ISCSI:
            parse_iscsi_connection_info(self.connection_info)
        elif kind == FC_VOLUME_TYPE:
            parse_connection_info(self.connection_info)
            if self.bus is not None or self.shareable or self.encryption is not None:
                raise InvalidInput(
                    "connection_info.driver_volume_type",
                    "an FC volume takes no bus, shareable or encryption yet",
                    [ISCSI],
                )
        else:
            raise InvalidInput(
                "connection_info.driver_volume_type",
                f"{kind!r} is not a volume type zcompute attaches",
                VOLUME_TYPES,
            )

    @property
    def kind(self) -> object:
        """Cinder's ``driver_volume_type`` (checked: one of :data:`VOLUME_TYPES`)."""
        info = self.connection_info
        return info.get("driver_volume_type") if isinstance(info, Mapping) else None


@dataclass(frozen=True)
class VolumeSecrets:
    """The secrets of a network volume that a migrating guest has, for its destination host.

    libvirt keeps a volume's secrets private to the host that defined them, and zcompute
    records only their UUIDs: the destination's caller gives their values again (Nova: the
    volume's ``connection_info`` and its key manager; an operator: the files the attach took).
    ``chap_password``: the CHAP password of its iSCSI login; ``encryption``: its LUKS
    passphrase. Kept out of any repr, log or record.
    """

    chap_password: bytes | None = field(default=None, repr=False)
    encryption: VolumeEncryption | None = None

    def __post_init__(self) -> None:
        if isinstance(self.chap_password, str):
            object.__setattr__(self, "chap_password", self.chap_password.encode())
        if self.chap_password is not None and (
            not isinstance(self.chap_password, bytes) or not self.chap_password
        ):
            raise InvalidInput("chap_password", "is empty or not bytes", "the CHAP password")
