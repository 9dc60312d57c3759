"""Cinder's iSCSI ``connection_info``, checked and normalised, and the LUKS passphrase with it.

QEMU logs in to the target itself (libiscsi, Debian's ``qemu-block-extra``): the host runs no
initiator, so there is nothing to connect or disconnect here; the driver turns the result into
a network disk (:class:`~zcompute.model.NetworkDiskSource`) and a libvirt secret for CHAP.

Nova hands ``{"driver_volume_type": "iscsi", "serial": <volume id>, "data": {...}}``; ``data``
holds ``target_portal`` ("host:port"), ``target_iqn`` and ``target_lun``, or the lists
``target_portals``/``target_iqns``/``target_luns`` (one entry per path), and optionally
``auth_method`` ("CHAP") with ``auth_username``/``auth_password``, ``volume_id``,
``encrypted``, ``access_mode`` ("rw"/"ro") and ``multiattach`` (also at the top level, where
Nova puts it). QEMU uses one path: with several, the first portal that accepts a TCP
connection within :data:`PROBE_TIMEOUT` seconds, else the first (there is no multipath).
Discovery CHAP (``discovery_auth_*``) is not needed (no SendTargets discovery) and ignored.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zcompute.errors import InvalidInput
from zcompute.model import (
    NetworkDiskSource,
    check_chap_username,
    check_iscsi_name,
    check_network_host,
)
from zcompute.volumes._connection_info import volume_id_of

__all__ = [
    "ISCSI",
    "LUKS_PROVIDERS",
    "IscsiConnectionInfo",
    "IscsiPath",
    "VolumeEncryption",
    "choose_path",
    "parse_iscsi_connection_info",
]

ISCSI = "iscsi"
DEFAULT_PORT = 3260
MAX_LUN = 16383  # SAM's flat addressing; what libiscsi and tgt address
PROBE_TIMEOUT = 2.0
# Nova's names for LUKS (v1), which QEMU decrypts itself: os-brick's format name and the
# legacy encryptor class paths Nova maps to it. LUKS2 and plain dm-crypt are not QEMU's.
LUKS_PROVIDERS = (
    "luks",
    "LuksEncryptor",
    "nova.volume.encryptors.luks.LuksEncryptor",
    "os_brick.encryptors.luks.LuksEncryptor",
)
_PORTAL_RE = re.compile(
    r"\[(?P<v6>[0-9A-Fa-f:.]+)\](?::(?P<p6>\d+))?|(?P<host>[^:\[\]]+)(?::(?P<port>\d+))?"
)
_PORTAL_RULE = "host:port, [IPv6]:port or host (port 3260)"


@dataclass(frozen=True, order=True)
class IscsiPath:
    """One way to the LUN: portal (host, port), target IQN and LUN."""

    host: str
    port: int
    iqn: str
    lun: int


@dataclass(frozen=True, kw_only=True)
class IscsiConnectionInfo:
    """A validated iSCSI connection; the CHAP password is left out of its repr."""

    volume_id: str
    paths: tuple[IscsiPath, ...]
    auth_username: str | None = None
    auth_password: str | None = field(default=None, repr=False)
    encrypted: bool = False
    readonly: bool = False
    multiattach: bool = False

    def disk_source(
        self, path: IscsiPath, auth_secret: str | None, initiator: str | None
    ) -> NetworkDiskSource:
        """The guest's network disk over ``path``; ``auth_secret``: the CHAP secret's UUID."""
        return NetworkDiskSource(
            host=path.host,
            port=path.port,
            name=f"{path.iqn}/{path.lun}",
            auth_username=self.auth_username if auth_secret else None,
            auth_secret=auth_secret,
            initiator=initiator,
        )


@dataclass(frozen=True)
class VolumeEncryption:
    """How to open an encrypted volume: Nova's ``provider`` and the passphrase Nova got from
    its key manager (the hex of the key). Kept out of any repr, log or record."""

    passphrase: bytes = field(repr=False)
    provider: str = "luks"

    def __post_init__(self) -> None:
        if self.provider not in LUKS_PROVIDERS:
            raise InvalidInput(
                "encryption.provider",
                f"{self.provider!r} is not an encryption QEMU opens (LUKS version 1)",
                LUKS_PROVIDERS,
            )
        if isinstance(self.passphrase, str):
            object.__setattr__(self, "passphrase", self.passphrase.encode())
        if not isinstance(self.passphrase, bytes) or not self.passphrase:
            raise InvalidInput("encryption.passphrase", "is empty or not bytes", "the key")


def parse_iscsi_connection_info(connection_info: Mapping[str, Any]) -> IscsiConnectionInfo:
    """Validate Nova's iSCSI ``connection_info``; every error names the offending field."""
    if not isinstance(connection_info, Mapping):
        raise InvalidInput("connection_info", "is not a mapping", "a dict with a 'data' mapping")
    kind = connection_info.get("driver_volume_type")
    if kind != ISCSI:
        raise InvalidInput("connection_info.driver_volume_type", f"{kind!r} is not iSCSI", ISCSI)
    data = connection_info.get("data")
    if not isinstance(data, Mapping):
        raise InvalidInput("connection_info.data", "is missing or not a mapping", "a dict")
    user, password = _chap(data)
    multiattach = _flag(data, "multiattach") or _flag(connection_info, "multiattach", "")
    return IscsiConnectionInfo(
        volume_id=volume_id_of(connection_info, data),
        paths=_paths(data),
        auth_username=user,
        auth_password=password,
        encrypted=_flag(data, "encrypted"),
        readonly=_access_mode(data) == "ro",
        multiattach=multiattach,
    )


def choose_path(
    info: IscsiConnectionInfo, reachable: Callable[[str, int], bool] | None = None
) -> IscsiPath:
    """The path QEMU uses: the only one, else the first whose portal answers, else the first."""
    if len(info.paths) == 1:
        return info.paths[0]
    probe = reachable or _accepts_tcp
    return next((p for p in info.paths if probe(p.host, p.port)), info.paths[0])


def _accepts_tcp(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def _paths(data: Mapping[str, Any]) -> tuple[IscsiPath, ...]:
    if "target_portals" in data or "target_iqns" in data or "target_luns" in data:
        portals = _list(data, "target_portals")
        iqns = _list(data, "target_iqns")
        luns = _list(data, "target_luns")
        if not len(portals) == len(iqns) == len(luns):
            raise InvalidInput(
                "connection_info.data.target_portals",
                f"{len(portals)} portals, {len(iqns)} IQNs and {len(luns)} LUNs",
                "lists of one length (one entry per path)",
            )
        triples = [
            (f"target_portals[{i}]", p, f"target_iqns[{i}]", q, f"target_luns[{i}]", n)
            for i, (p, q, n) in enumerate(zip(portals, iqns, luns, strict=True))
        ]
    else:
        for key in ("target_portal", "target_iqn", "target_lun"):
            if key not in data:
                raise InvalidInput(f"connection_info.data.{key}", "is missing", _WANTED[key])
        triples = [
            (
                "target_portal",
                data["target_portal"],
                "target_iqn",
                data["target_iqn"],
                "target_lun",
                data["target_lun"],
            )
        ]
    paths = (
        IscsiPath(*_portal(p, pf), check_iscsi_name(q, f"connection_info.data.{qf}"), _lun(n, nf))
        for pf, p, qf, q, nf, n in triples
    )
    return tuple(dict.fromkeys(paths))  # drop repeats, keep the driver's order


_WANTED = {
    "target_portal": _PORTAL_RULE,
    "target_iqn": "the target's IQN",
    "target_lun": f"an integer LUN 0-{MAX_LUN}",
}


def _list(data: Mapping[str, Any], key: str) -> Sequence[Any]:
    raw = data.get(key)
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence) or not raw:
        raise InvalidInput(
            f"connection_info.data.{key}", f"{raw!r} is not a list", "a non-empty list"
        )
    return raw


def _portal(raw: object, key: str) -> tuple[str, int]:
    name = f"connection_info.data.{key}"
    # open-iscsi spells a portal with its group tag ("10.0.0.1:3260,1"): the tag is not needed
    text = raw.split(",", 1)[0].strip() if isinstance(raw, str) else ""
    match = _PORTAL_RE.fullmatch(text)
    if match is None:
        raise InvalidInput(name, f"invalid portal {raw!r}", _PORTAL_RULE)
    host = match["v6"] or match["host"]
    port = int(match["p6"] or match["port"] or DEFAULT_PORT)
    if not 1 <= port <= 65535:
        raise InvalidInput(name, f"port {port} of {raw!r} is out of range", "1-65535")
    return check_network_host(host, name), port


def _lun(raw: object, key: str) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= MAX_LUN:
        raise InvalidInput(f"connection_info.data.{key}", f"invalid LUN {raw!r}", f"0-{MAX_LUN}")
    return raw


def _chap(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    method = data.get("auth_method")
    if method in (None, "", "None", "none"):
        return None, None
    if not isinstance(method, str) or method.upper() != "CHAP":
        raise InvalidInput("connection_info.data.auth_method", f"unknown {method!r}", ["CHAP"])
    user = check_chap_username(data.get("auth_username"), "connection_info.data.auth_username")
    password = data.get("auth_password")
    if not isinstance(password, str) or not password or not password.isprintable():
        # the value itself is never shown: it is a password
        raise InvalidInput(
            "connection_info.data.auth_password", "is missing, empty or not printable text"
        )
    return user, password


def _flag(data: Mapping[str, Any], key: str, prefix: str = "data.") -> bool:
    value = data.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput(
            f"connection_info.{prefix}{key}", f"{value!r} is not a boolean", "true, false"
        )
    return value


def _access_mode(data: Mapping[str, Any]) -> str:
    mode = data.get("access_mode", "rw")
    if mode not in ("rw", "ro"):
        raise InvalidInput("connection_info.data.access_mode", f"unknown {mode!r}", ["rw", "ro"])
    return str(mode)
