"""Block devices and NICs given to a guest: local and network disks, tap and network NICs.

Frozen dataclasses validated in ``__post_init__`` like every type of :mod:`zcompute.model`,
which re-exports them: each error names the field and the allowed values.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from pathlib import Path

from zcompute._checks import check_choice as _check_choice
from zcompute._checks import check_int as _check_int
from zcompute._checks import check_path as _check_path
from zcompute._checks import set_field as _set
from zcompute._checks import show as _show
from zcompute._checks import validate_name, validate_uuid
from zcompute.errors import InvalidInput
from zcompute.properties import DISK_BUSES

__all__ = [
    "DEVICE_TAG_RULE",
    "DISK_DEVICES",
    "DISK_FORMATS",
    "IFNAME_RULE",
    "ISCSI_NAME_RULE",
    "NIC_MODELS",
    "TARGET_RE",
    "BlockDeviceSpec",
    "NICSpec",
    "NetworkDiskSource",
    "check_chap_username",
    "check_iscsi_name",
    "check_network_host",
    "network_source_text",
]

DISK_FORMATS = ("qcow2", "raw")
DISK_DEVICES = ("disk", "cdrom")
NIC_MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet", "vmxnet3")
IFNAME_RULE = "1-15 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"
_IFNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,14}")
_MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
#: a disk target name as libvirt writes it (``vdb``, ``sdaa``)
TARGET_RE = re.compile(r"(vd|sd|hd)[a-z]{1,2}")
_SERIAL_RE = re.compile(r"[A-Za-z0-9._-]{1,20}")  # virtio-blk serials hold at most 20 bytes
#: A device role tag as Nova's API accepts it: up to 60 characters, neither ``,`` nor ``/``.
DEVICE_TAG_RULE = "1-60 printable characters without ',' or '/'"
_TAG_RE = re.compile(r"[^,/\x00-\x1f\x7f]{1,60}")
# iSCSI names (RFC 3720 3.2.6.3): iqn.YYYY-MM.reversed.domain[:anything], eui. or naa. hex
ISCSI_NAME_RULE = "iqn.YYYY-MM.reversed.domain[:name], eui.<16 hex> or naa.<16 or 32 hex>"
_ISCSI_NAME_RE = re.compile(
    r"iqn\.\d{4}-\d{2}\.[a-z0-9][a-z0-9.-]*(:[a-z0-9.:_-]+)?|eui\.[0-9a-f]{16}"
    r"|naa\.[0-9a-f]{16}([0-9a-f]{16})?",
    re.IGNORECASE,
)
_HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]{0,252}")  # a DNS name, IPv4 or bare IPv6
_CHAP_USER_RE = re.compile(r"[A-Za-z0-9._:@+=-]{1,255}")


def _check_tag(field: str, value: object) -> None:
    if value is not None and (not isinstance(value, str) or _TAG_RE.fullmatch(value) is None):
        raise InvalidInput(field, f"invalid device tag {_show(value)}", DEVICE_TAG_RULE)


def network_source_text(protocol: str, host: str, port: int | None, name: str) -> str:
    """One spelling of a network disk's source (``iscsi://host:3260/IQN/LUN``), the same for a
    record and for a domain's XML, so the two can be compared."""
    where = f"[{host}]" if ":" in host else host
    return f"{protocol}://{where}:{port or ''}/{name}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class NetworkDiskSource:
    """A disk QEMU reaches over the network itself (libvirt's ``<disk type='network'>``).

    Only iSCSI today: ``name`` is ``IQN/LUN``. ``auth_secret`` is the UUID of the libvirt
    secret holding the CHAP password of ``auth_username`` (the password itself is never
    recorded); ``initiator`` the initiator name QEMU logs in with.
    """

    protocol: str = "iscsi"
    host: str
    port: int = 3260
    name: str
    auth_username: str | None = None
    auth_secret: str | None = None
    initiator: str | None = None

    def __post_init__(self) -> None:
        _check_choice("block_device.source.protocol", self.protocol, ("iscsi",))
        check_network_host(self.host, "block_device.source.host")
        _check_int("block_device.source.port", self.port, 1, 65535)
        iqn, _, lun = self.name.partition("/") if isinstance(self.name, str) else ("", "", "")
        if _ISCSI_NAME_RE.fullmatch(iqn) is None or not lun.isascii() or not lun.isdigit():
            raise InvalidInput("block_device.source.name", f"invalid {_show(self.name)}", "IQN/LUN")
        if self.initiator is not None:
            check_iscsi_name(self.initiator, "block_device.source.initiator")
        if (self.auth_username is None) != (self.auth_secret is None):
            raise InvalidInput("block_device.source.auth", "give both user and secret, or none")
        if self.auth_username is not None:
            check_chap_username(self.auth_username, "block_device.source.auth_username")
            _set(
                self,
                "auth_secret",
                validate_uuid(self.auth_secret, "block_device.source.auth_secret"),
            )

    def __str__(self) -> str:
        return network_source_text(self.protocol, self.host, self.port, self.name)


def check_network_host(value: object, field: str) -> str:
    """A host name, IPv4 or (bare) IPv6 address, else InvalidInput naming ``field``."""
    if isinstance(value, str) and (_HOST_RE.fullmatch(value) or _is_ipv6(value)):
        return value  # an IPv6 address may start with "::"
    raise InvalidInput(field, f"invalid host {_show(value)}", "a host name or IP address")


def _is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def check_iscsi_name(value: object, field: str) -> str:
    """An iSCSI qualified name (target or initiator), else InvalidInput naming ``field``."""
    if not isinstance(value, str) or _ISCSI_NAME_RE.fullmatch(value) is None:
        raise InvalidInput(field, f"invalid iSCSI name {_show(value)}", ISCSI_NAME_RULE)
    return value


def check_chap_username(value: object, field: str) -> str:
    if not isinstance(value, str) or _CHAP_USER_RE.fullmatch(value) is None:
        raise InvalidInput(field, f"invalid CHAP user {_show(value)}", "1-255 of A-Za-z0-9._:@+=-")
    return value


@dataclasses.dataclass(frozen=True)
class BlockDeviceSpec:
    """A block device given to a guest: a host path exposed as ``target`` on ``bus``, or a
    network volume QEMU reaches itself (:class:`NetworkDiskSource`).

    ``shareable``: several guests may have the volume at once (multiattach; no host cache).
    ``encryption_secret``: the UUID of the libvirt secret with the passphrase of a LUKS
    volume that QEMU decrypts (the guest sees the plain content). ``boot``: the guest's root
    volume, which it boots from (boot from volume: the guest has no local root disk).
    """

    source: Path | NetworkDiskSource
    target: str
    bus: str = "virtio"
    readonly: bool = False
    serial: str | None = None
    device: str = "disk"
    # decided once (stated by the operator, or by the format inspector when the volume is
    # first attached), recorded, and given to libvirt explicitly from then on
    format: str | None = None
    # the device role tag the guest finds in its device metadata (config drive, metadata API)
    tag: str | None = None
    # the size the guest was last told (an extend or a swap records it); None: never told
    # anything but what the volume had when it was attached
    size_bytes: int | None = None
    shareable: bool = False
    encryption_secret: str | None = None
    boot: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.source, NetworkDiskSource):
            _set(self, "source", _check_path("block_device.source", self.source))
        _check_tag("block_device.tag", self.tag)
        for flag in ("readonly", "shareable", "boot"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidInput(
                    f"block_device.{flag}", f"invalid {_show(getattr(self, flag))}", "bool"
                )
        if self.encryption_secret is not None:
            secret = validate_uuid(self.encryption_secret, "block_device.encryption_secret")
            _set(self, "encryption_secret", secret)
        if self.format is not None:
            _check_choice("block_device.format", self.format, DISK_FORMATS)
        if not isinstance(self.target, str) or TARGET_RE.fullmatch(self.target) is None:
            raise InvalidInput(
                "block_device.target", f"invalid target {_show(self.target)}", "vdX, sdX or hdX"
            )
        _check_choice("block_device.bus", self.bus, DISK_BUSES)
        _check_choice("block_device.device", self.device, DISK_DEVICES)
        if self.size_bytes is not None and (
            isinstance(self.size_bytes, bool)
            or not isinstance(self.size_bytes, int)
            or self.size_bytes < 0
        ):
            raise InvalidInput(
                "block_device.size_bytes", f"invalid size {_show(self.size_bytes)}", "bytes >= 0"
            )
        if self.serial is not None and (
            not isinstance(self.serial, str) or _SERIAL_RE.fullmatch(self.serial) is None
        ):
            raise InvalidInput(
                "block_device.serial",
                f"invalid serial {_show(self.serial)}",
                "1-20 of A-Za-z0-9._-",
            )


@dataclasses.dataclass(frozen=True)
class NICSpec:
    """A NIC on a libvirt ``network``, a host ``bridge`` or a ``tap`` device (exactly one).

    A tap device (Nova's ``tap``/``ethernet`` VIFs) is zcompute's to create before the guest
    starts and to remove with it; whatever plugs it into a network (Neutron's agent) does so
    by its name. ``mtu`` (bytes) applies to every kind.
    """

    network: str | None = None
    bridge: str | None = None
    mac: str | None = None
    model: str | None = None
    tap: str | None = None
    mtu: int | None = None
    tag: str | None = None  # the device role tag, as for BlockDeviceSpec

    def __post_init__(self) -> None:
        _check_tag("nic.tag", self.tag)
        kinds = ("network", "bridge", "tap")
        if sum(getattr(self, kind) is not None for kind in kinds) != 1:
            raise InvalidInput("nic", "give exactly one of network, bridge and tap", kinds)
        if self.network is not None:
            validate_name(self.network, "nic.network")
        for kind in ("bridge", "tap"):
            value = getattr(self, kind)
            if value is not None and (
                not isinstance(value, str) or _IFNAME_RE.fullmatch(value) is None
            ):
                raise InvalidInput(f"nic.{kind}", f"invalid {kind} {_show(value)}", IFNAME_RULE)
        if self.mac is not None:
            _set(self, "mac", _check_mac(self.mac))
        if self.model is not None:
            _check_choice("nic.model", self.model, NIC_MODELS)
        if self.mtu is not None:
            _check_int("nic.mtu", self.mtu, 68, 65535)  # IPv4's minimum; the largest an IP packet


def _check_mac(value: object) -> str:
    rule = "a unicast MAC such as 52:54:00:12:34:56"
    mac = value.lower() if isinstance(value, str) else ""
    if _MAC_RE.fullmatch(mac) is None:
        raise InvalidInput("nic.mac", f"invalid MAC {_show(value)}", rule)
    if int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
        raise InvalidInput("nic.mac", f"not a unicast address: {mac}", rule)
    return mac
