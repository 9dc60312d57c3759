"""What a config drive says: OpenStack's metadata format, from zcompute's own types.

A config drive is the instance's metadata as files on a small read-only disk (OpenStack's
``openstack/latest/*`` layout), read by cloud-init's ConfigDrive data source before any network
is up. zcompute's CLI fills :class:`ConfigDrive` from its options; the Nova adapter fills
the same class from Nova's instance, so both write one format through one builder.

Everything here comes from users (under Nova: cloud tenants). It is checked here, once, and
only ever written into files: never into XML, argv or logs.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import struct
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from zcompute.errors import InvalidInput
from zcompute.model import NICSpec, validate_uuid

__all__ = [
    "MAX_USER_DATA",
    "SSH_KEY_TYPES",
    "ConfigDrive",
    "config_drive_files",
    "hostname_from_name",
    "network_data_for",
    "parse_ssh_keys",
]

#: Nova's limit for user data (65535 bytes), which cloud images are written against.
MAX_USER_DATA = 65535
MAX_KEYS = 32
_MAX_KEY_LINE = 16 * 1024
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_HOSTNAME_RULE = "dot-separated labels of a-z, 0-9 and '-', each 1-63 long, 253 in all"
_COMMENT_RE = re.compile(r"[\x20-\x7e]{0,256}")


def _check_hostname(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 253:
        raise InvalidInput("hostname", f"invalid hostname {value!r}", _HOSTNAME_RULE)
    if not all(_LABEL_RE.fullmatch(label) for label in value.split(".")):
        raise InvalidInput("hostname", f"invalid hostname {value!r}", _HOSTNAME_RULE)
    return value


def hostname_from_name(name: str) -> str:
    """A hostname made from an instance name, as Nova makes one from a display name."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return text or "instance"


def _key_blob_type(blob_b64: str) -> str | None:
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    return blob[4 : 4 + length].decode("ascii", "replace") if length <= len(blob) - 4 else None


def parse_ssh_keys(text: str, field: str = "ssh-key") -> tuple[str, ...]:
    """The public keys in ``text`` (OpenSSH ``authorized_keys`` lines without options).

    A key line is ``TYPE BASE64 [COMMENT]`` and its blob must say the same type: anything else
    (options such as ``command=``, a private key, garbage) is refused rather than passed on to
    the guest's ``authorized_keys``.
    """
    keys = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        where = f"{field} line {number}"
        if len(line) > _MAX_KEY_LINE or len(parts) < 2 or parts[0] not in SSH_KEY_TYPES:
            raise InvalidInput(where, "not an OpenSSH public key", SSH_KEY_TYPES)
        if _key_blob_type(parts[1]) != parts[0]:
            raise InvalidInput(where, f"the key data is not a {parts[0]} key", "TYPE BASE64 [C]")
        if len(parts) == 3 and not _COMMENT_RE.fullmatch(parts[2]):
            raise InvalidInput(where, "the comment is not printable ASCII", "printable ASCII")
        keys.append(" ".join(parts))
    if len(keys) > MAX_KEYS:
        raise InvalidInput(field, f"{len(keys)} keys", f"at most {MAX_KEYS}")
    return tuple(keys)


def network_data_for(nics: Sequence[NICSpec]) -> dict[str, Any]:
    """``network_data.json`` naming each NIC by its MAC, in the guest's NIC order.

    zcompute does not address guests (the network they are on does), so there are links and no
    networks: cloud-init then names the interfaces stably and configures no address.
    """
    links = []
    for index, nic in enumerate(nics):
        if nic.mac is None:
            raise InvalidInput(f"nic {index}.mac", "a config drive needs every NIC's MAC")
        links.append({"id": f"interface{index}", "type": "phy", "ethernet_mac_address": nic.mac})
    return {"links": links, "networks": [], "services": []}


@dataclasses.dataclass(frozen=True)
class ConfigDrive:
    """What is asked of an instance's config drive; the instance fills in the rest.

    ``hostname`` None: made from the instance's name. ``network_data`` None: the instance's
    NICs by MAC (:func:`network_data_for`); the Nova adapter passes Nova's own, with networks.
    ``extra_meta``: further ``meta_data.json`` keys (e.g. Nova's ``availability_zone``,
    ``project_id``, ``devices``); they never replace the instance's identity or keys.
    ``meta``: the user's metadata as ``meta_data.json`` shows it; None: the instance's own
    (under Nova, the tenant's server metadata, which zcompute's records never hold).
    """

    hostname: str | None = None
    public_keys: tuple[str, ...] = ()
    user_data: bytes | None = None
    network_data: Mapping[str, Any] | None = None
    vendor_data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    extra_meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    meta: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.hostname is not None:
            _check_hostname(self.hostname)
        object.__setattr__(self, "public_keys", parse_ssh_keys("\n".join(self.public_keys)))
        if self.user_data is not None:
            if not isinstance(self.user_data, bytes):
                raise InvalidInput("user-data", "must be bytes")
            if len(self.user_data) > MAX_USER_DATA:
                raise InvalidInput(
                    "user-data", f"{len(self.user_data)} bytes", f"at most {MAX_USER_DATA} bytes"
                )
        for field in ("network_data", "vendor_data", "extra_meta", "meta"):
            value = getattr(self, field)
            if value is not None:
                _json(value)  # refused now if it cannot be written later
                object.__setattr__(self, field, MappingProxyType(dict(value)))


def _meta_data(
    drive: ConfigDrive,
    uuid: str,
    name: str,
    metadata: Mapping[str, str],
    devices: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    keys = {f"key-{i}": key for i, key in enumerate(drive.public_keys)}
    meta: dict[str, Any] = {"launch_index": 0, **drive.extra_meta, "devices": list(devices)}
    meta.update(
        uuid=validate_uuid(uuid, "config drive uuid"),
        name=name,
        hostname=drive.hostname or hostname_from_name(name),
        public_keys=keys,
        keys=[{"name": n, "type": "ssh", "data": k} for n, k in keys.items()],
        meta=dict(metadata if drive.meta is None else drive.meta),
    )
    return meta


def config_drive_files(
    drive: ConfigDrive,
    *,
    uuid: str,
    name: str,
    nics: Sequence[NICSpec] = (),
    metadata: Mapping[str, str] | None = None,
    devices: Sequence[Mapping[str, Any]] = (),
) -> dict[str, bytes]:
    """The drive's files by path: OpenStack's ``openstack/latest`` layout, as Nova writes it.

    ``devices``: the device metadata of the guest's tagged devices (OpenStack's ``devices``
    entries: type, bus, address, tags, mac or serial).
    """
    base = "openstack/latest"
    network = drive.network_data if drive.network_data is not None else network_data_for(nics)
    files = {
        f"{base}/meta_data.json": _json(_meta_data(drive, uuid, name, metadata or {}, devices)),
        f"{base}/network_data.json": _json(network),
        f"{base}/vendor_data.json": _json(drive.vendor_data),
        f"{base}/vendor_data2.json": _json({}),
    }
    if drive.user_data is not None:
        files[f"{base}/user_data"] = drive.user_data
    return files


def _json(value: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(dict(value), sort_keys=True, indent=1).encode()
    except (TypeError, ValueError) as err:
        raise InvalidInput("config drive", f"not JSON data: {err}") from None
