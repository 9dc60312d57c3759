"""Domain types of zcompute: flavors, images, instances, block devices and NICs.

These are plain frozen dataclasses with no dependency on Nova or libvirt, so that a future
Nova adapter only has to copy fields across. Every constructor validates its input in
``__post_init__`` and raises :class:`~zcompute.errors.InvalidInput` naming the field and the
allowed values; an object that exists is therefore always safe to put into XML or a path.

Names (instances, images, flavors, networks) all go through :func:`validate_name`. The rule is
that of a DNS label with ``.`` and ``_`` added: 1-63 ASCII letters, digits, ``.``, ``_`` or
``-``, starting with a letter or digit, with no ``..``. That keeps names usable as file names
(no ``/``, no leading ``-`` or ``.``), as XML text (no quotes, ``<`` or ``&``), on a command
line (no whitespace) and as a guest host name.

Vocabularies have one home each, and this module imports them: the architectures are those
with a profile (:data:`zcompute.arch.ARCHES`), the domain types the profiles' too, and the
image properties zcompute reads (with their allowed values) are declared in
:mod:`zcompute.properties`, which also says why only those are checked.

Rules tighten over time, and a record written under older ones (an image of an architecture
that has no profile any more, a flavor extra spec no boot can use) is read back as an
:class:`UnusableRecord`: listed with what is wrong, deletable, never used.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import secrets
import uuid as uuidlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from zcompute.arch import ARCHES, DOMAIN_TYPES
from zcompute.errors import InvalidInput
from zcompute.properties import (
    DISK_BUSES,
    DISK_IOTUNE_EXCLUSIVE,
    IMAGE_ARCH_PROPERTY,
    IMAGE_PROPERTIES,
    KERNEL_ID_PROPERTY,
    MAX_CMDLINE,
    ImageProperty,
)

__all__ = [
    "DEVICE_TAG_RULE",
    "DISK_BUSES",
    "DISK_FORMATS",
    "DOMAIN_TYPES",
    "IFNAME_RULE",
    "IMAGE_PROPERTIES",
    "ISCSI_NAME_RULE",
    "KERNEL_ID_PROPERTY",
    "MAX_TIMEOUT",
    "NAME_RULE",
    "NIC_MODELS",
    "TIMEOUT_RULE",
    "BlockDeviceSpec",
    "Flavor",
    "Image",
    "Instance",
    "InstanceState",
    "NICSpec",
    "NetworkDiskSource",
    "Rescue",
    "Task",
    "UnusableRecord",
    "check_chap_username",
    "check_iscsi_name",
    "check_network_host",
    "generate_mac",
    "network_source_text",
    "new_uuid",
    "utcnow",
    "validate_arch",
    "validate_extra_specs",
    "validate_image_properties",
    "validate_manager",
    "validate_name",
    "validate_timeout",
    "validate_uuid",
]

DISK_FORMATS = ("qcow2", "raw")
DISK_DEVICES = ("disk", "cdrom")
NIC_MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet", "vmxnet3")

NAME_RULE = "1-63 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit, without '..'"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_KEY_RULE = "1-255 characters from A-Z a-z 0-9 _ : . -"
_KEY_RE = re.compile(r"[A-Za-z0-9_:.-]{1,255}")
# a Linux network interface name (IFNAMSIZ, and safe on ip's command line): bridges and taps
IFNAME_RULE = "1-15 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"
_IFNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,14}")
_MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_TARGET_RE = re.compile(r"(vd|sd|hd)[a-z]{1,2}")
_SERIAL_RE = re.compile(r"[A-Za-z0-9._-]{1,20}")  # virtio-blk serials hold at most 20 bytes
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
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
# XML 1.0 cannot carry these, and they have no business in names, metadata or command lines.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

_MAX_METADATA = 255  # Nova's limit for instance metadata keys and values
_MAX_PROPERTY = 65535  # Glance's limit for an image property value

#: Longest wait any operation takes (seconds): a week. Longer is a typo, not a wish.
MAX_TIMEOUT = 7 * 24 * 3600
TIMEOUT_RULE = f"seconds from 0 to {MAX_TIMEOUT}"


def _show(value: object) -> str:
    """A short, printable rendering of a rejected value for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_name(value: object, field: str = "name", *, allow_uuid: bool = True) -> str:
    """Return ``value`` if it is a safe name (see :data:`NAME_RULE`), else raise InvalidInput.

    With ``allow_uuid=False`` a name that reads as a UUID is refused too: images and instances
    are looked up by "name or id", which must never be ambiguous.
    """
    if not isinstance(value, str):
        raise InvalidInput(field, f"expected a string, got {type(value).__name__}", NAME_RULE)
    if _NAME_RE.fullmatch(value) is None or ".." in value:
        raise InvalidInput(field, f"invalid name {_show(value)}", NAME_RULE)
    if not allow_uuid and _is_uuid(value):
        raise InvalidInput(field, f"{value!r} looks like a UUID", "a name that is not a UUID")
    return value


def _is_uuid(text: str) -> bool:
    try:
        uuidlib.UUID(text)
    except ValueError:
        return False
    return True


def validate_uuid(value: object, field: str = "uuid") -> str:
    """Return the canonical lower-case form of a UUID string, else raise InvalidInput."""
    rule = "a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e"
    if not isinstance(value, str):
        raise InvalidInput(field, f"expected a string, got {type(value).__name__}", rule)
    try:
        parsed = uuidlib.UUID(value)
    except ValueError:
        raise InvalidInput(field, f"invalid UUID {_show(value)}", rule) from None
    if str(parsed) != value.lower():  # refuse the braces, URN and hex-only spellings
        raise InvalidInput(field, f"invalid UUID {_show(value)}", rule)
    return str(parsed)


def validate_arch(value: object, field: str = "arch") -> str:
    """Return ``value`` if it is an architecture zcompute supports (one with a profile)."""
    return _check_choice(field, value, ARCHES)


_MANAGER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_:.-]{0,254}")
MANAGER_RULE = "1-255 characters from A-Z a-z 0-9 _ : . -, starting with a letter or digit"


def validate_manager(value: object, field: str = "managed_by") -> str:
    """The name of a guest's manager, e.g. ``nova:compute-1`` (a Nova host name after ``:``)."""
    if not isinstance(value, str) or _MANAGER_RE.fullmatch(value) is None:
        raise InvalidInput(field, f"invalid manager {_show(value)}", MANAGER_RULE)
    return value


def validate_timeout(value: object, field: str = "timeout") -> float:
    """Return ``value`` as seconds if it is a number from 0 to :data:`MAX_TIMEOUT`.

    NaN is refused (every comparison with it is false, so a wait for NaN seconds never ends),
    and so are infinity and negative numbers.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= MAX_TIMEOUT
    ):
        raise InvalidInput(field, f"invalid timeout {_show(value)}", TIMEOUT_RULE)
    return float(value)


def new_uuid() -> str:
    """A fresh random UUID in canonical form."""
    return str(uuidlib.uuid4())


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (all zcompute timestamps are)."""
    return datetime.now(UTC)


def generate_mac() -> str:
    """A random MAC address in QEMU's 52:54:00 range, as libvirt itself would pick."""
    tail = secrets.token_bytes(3)
    return "52:54:00:" + ":".join(f"{b:02x}" for b in tail)


def _check_text(field: str, value: object, max_len: int, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, f"expected a string, got {type(value).__name__}")
    if len(value) > max_len or (not value and not allow_empty):
        raise InvalidInput(field, f"length {len(value)} out of range", f"1-{max_len} characters")
    if _CONTROL_RE.search(value):
        raise InvalidInput(field, f"control characters in {_show(value)}", "printable text")
    return value


def _check_choice(field: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(field, f"unknown value {_show(value)}", allowed)
    return value


def _string_map(
    field: str, values: Mapping[str, str], max_value: int
) -> MappingProxyType[str, str]:
    """Validate a str -> str mapping and return a read-only copy of it."""
    if not isinstance(values, Mapping):
        raise InvalidInput(field, f"expected a mapping, got {type(values).__name__}")
    out: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(key, str) or _KEY_RE.fullmatch(key) is None:
            raise InvalidInput(f"{field} key", f"invalid key {_show(key)}", _KEY_RULE)
        out[key] = _check_text(f"{field}[{key}]", value, max_value)
    return MappingProxyType(out)


def _timestamp(field: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(field, f"expected a timezone-aware datetime, got {_show(value)}")
    return value


def _check_tag(field: str, value: object) -> None:
    if value is not None and (not isinstance(value, str) or _TAG_RE.fullmatch(value) is None):
        raise InvalidInput(field, f"invalid device tag {_show(value)}", DEVICE_TAG_RULE)


def _set(obj: object, name: str, value: object) -> None:
    """Normalise a field of a frozen dataclass during ``__post_init__``."""
    object.__setattr__(obj, name, value)


# --- image properties (declared in zcompute.properties) -------------------------------


def validate_image_properties(properties: Mapping[str, str]) -> MappingProxyType[str, str]:
    """Check image properties: known ones against their allowed values, all for safe text.

    Errors about a known property name the property itself (``hw_disk_bus``), as an operator
    typed it; other errors name ``properties[key]``.
    """
    _check_known_properties(properties, _MAX_PROPERTY, flavor=False)
    return _string_map("properties", properties, _MAX_PROPERTY)


def validate_extra_specs(extra_specs: Mapping[str, str]) -> MappingProxyType[str, str]:
    """Check flavor extra specs as image properties are checked (:data:`IMAGE_PROPERTIES`).

    A boot merges the flavor's extra specs over the image's properties and acts on the same
    keys, so a value that no boot could use is refused when the flavor is created, not at every
    boot; other keys are kept as they are, like unknown image properties.
    """
    _check_known_properties(extra_specs, _MAX_METADATA, flavor=True)
    _check_exclusive_specs(extra_specs)
    return _string_map("flavor.extra_specs", extra_specs, _MAX_METADATA)


def _check_known_properties(properties: Mapping[str, str], max_value: int, *, flavor: bool) -> None:
    if isinstance(properties, Mapping):
        for key, value in properties.items():
            prop = IMAGE_PROPERTIES.get(key)
            if prop is not None and (prop.flavor if flavor else prop.image):
                _check_property(prop, _check_text(key, value, max_value))


def _check_exclusive_specs(extra_specs: Mapping[str, str]) -> None:
    """A total disk limit together with a read or write one: libvirt refuses the pair."""
    if not isinstance(extra_specs, Mapping):
        return
    for total, parts in DISK_IOTUNE_EXCLUSIVE:
        given = [key for key in parts if _limits(extra_specs.get(key))]
        if _limits(extra_specs.get(total)) and given:
            raise InvalidInput(
                total,
                f"cannot be combined with {' and '.join(given)}",
                f"either {total} or {' and/or '.join(parts)}",
            )


def _limits(value: object) -> bool:
    """Whether a (checked) disk limit value sets a limit: 0 means none, as in libvirt."""
    return isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0


def _check_property(prop: ImageProperty, value: str) -> None:
    if prop.allowed:
        _check_choice(prop.key, value, prop.allowed)
    elif prop.form == "name":
        validate_name(value, prop.key)
    elif prop.form == "count":
        _check_count(prop.key, value, prop.max_count or 2**63 - 1)
    elif prop.max_length is not None:
        _check_text(prop.key, value, prop.max_length)


def _check_count(field: str, value: str, high: int) -> None:
    """A decimal integer from 0 to ``high``, as text (an extra spec's value)."""
    if not value.isascii() or not value.isdigit() or int(value) > high:
        raise InvalidInput(field, f"invalid value {_show(value)}", f"an integer from 0 to {high}")


# --- states and tasks -------------------------------------------------------------------


class InstanceState(enum.StrEnum):
    """The power/lifecycle state zcompute records for an instance."""

    BUILDING = "building"
    RUNNING = "running"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"  # shutting down
    SHUTOFF = "shutoff"
    CRASHED = "crashed"
    SUSPENDED = "suspended"
    ERROR = "error"
    NOSTATE = "nostate"


class Task(enum.StrEnum):
    """The operation running on an instance; left set in the record if zcompute crashed."""

    SPAWNING = "spawning"
    DESTROYING = "destroying"
    # removing a guest but keeping its disks (Nova's destroy_disks=False): recovery finishes
    # it without removing them
    RELEASING = "releasing"
    REBOOTING = "rebooting"
    POWERING_OFF = "powering_off"
    POWERING_ON = "powering_on"
    PAUSING = "pausing"
    UNPAUSING = "unpausing"
    SUSPENDING = "suspending"
    RESUMING = "resuming"
    SNAPSHOTTING = "snapshotting"
    REBUILDING = "rebuilding"
    RESIZING = "resizing"
    # ending a resize: dropping the state kept for a revert, or restoring it (recovery
    # finishes either)
    CONFIRMING_RESIZE = "confirming_resize"
    REVERTING_RESIZE = "reverting_resize"
    MIGRATING = "migrating"
    RESCUING = "rescuing"
    UNRESCUING = "unrescuing"
    ATTACHING_VOLUME = "attaching_volume"
    DETACHING_VOLUME = "detaching_volume"
    EXTENDING_VOLUME = "extending_volume"
    # a block copy onto another volume, then the switch-over: recovery aborts an unfinished
    # copy (the guest keeps the old volume) or finishes a switch-over that happened
    SWAPPING_VOLUME = "swapping_volume"
    ATTACHING_INTERFACE = "attaching_interface"
    DETACHING_INTERFACE = "detaching_interface"


_E = TypeVar("_E", bound=enum.StrEnum)


def _enum_value(field: str, kind: type[_E], value: object) -> _E:
    if isinstance(value, kind):
        return value
    if not isinstance(value, str) or value not in kind.__members__.values():
        raise InvalidInput(field, f"unknown value {_show(value)}", [m.value for m in kind])
    return kind(value)


# --- the types --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Flavor:
    """A hardware template. ``root_gib == 0`` means "as large as the image", as in Nova;
    ``ephemeral_gib``/``swap_mib`` size the blank disks a guest gets besides (0: none)."""

    name: str
    vcpus: int
    memory_mib: int
    root_gib: int
    extra_specs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    ephemeral_gib: int = 0
    swap_mib: int = 0

    def __post_init__(self) -> None:
        validate_name(self.name, "flavor.name")
        _check_int("flavor.vcpus", self.vcpus, 1, 4096)
        _check_int("flavor.memory_mib", self.memory_mib, 16, 16 * 1024 * 1024)
        _check_int("flavor.root_gib", self.root_gib, 0, 64 * 1024)
        _check_int("flavor.ephemeral_gib", self.ephemeral_gib, 0, 64 * 1024)
        _check_int("flavor.swap_mib", self.swap_mib, 0, 1024 * 1024)
        _set(self, "extra_specs", validate_extra_specs(self.extra_specs))


def _check_int(field: str, value: object, low: int, high: int) -> None:
    # bool is an int in Python; True vCPUs is a bug, not a value.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(
            field, f"invalid value {_show(value)}", f"an integer from {low} to {high}"
        )


def _check_path(field: str, value: object) -> Path:
    """An absolute, normalised path without NUL or control characters."""
    if not isinstance(value, Path | str):
        raise InvalidInput(field, f"expected a path, got {type(value).__name__}")
    text = str(value)
    _check_text(field, text, 4096)
    path = Path(text)
    if not path.is_absolute() or ".." in path.parts or str(path) != text:
        raise InvalidInput(field, f"not a normalised absolute path: {_show(text)}", "/abs/path")
    return path


@dataclasses.dataclass(frozen=True)
class Image:
    """A bootable image: a raw/qcow2 disk, or a kernel (+ initrd + command line).

    For a kernel boot image ``disk_format`` and ``path`` are ``None``, ``sha256`` is the digest
    of the kernel and ``initrd_sha256`` that of the initrd. ``size`` is the bytes stored;
    ``virtual_size`` the size of the disk the guest sees (0 for kernel boot images).
    """

    id: str
    name: str
    arch: str | None
    disk_format: str | None
    path: Path | None
    kernel_path: Path | None
    initrd_path: Path | None
    cmdline: str | None
    properties: Mapping[str, str]
    size: int
    sha256: str
    created_at: datetime
    virtual_size: int = 0
    initrd_sha256: str | None = None

    def __post_init__(self) -> None:
        _set(self, "id", validate_uuid(self.id, "image.id"))
        validate_name(self.name, "image.name", allow_uuid=False)
        _set(self, "properties", validate_image_properties(self.properties))
        if self.arch is not None:
            _check_choice("image.arch", self.arch, ARCHES)
        declared = self.properties.get(IMAGE_ARCH_PROPERTY)
        if declared is not None and self.arch is not None and declared != self.arch:
            raise InvalidInput(
                "image.arch",
                f"{self.arch} contradicts {IMAGE_ARCH_PROPERTY}={declared}",
                [declared],
            )
        for field in ("path", "kernel_path", "initrd_path"):
            value = getattr(self, field)
            if value is not None:
                _set(self, field, _check_path(f"image.{field}", value))
        self._check_kind()
        _check_int("image.size", self.size, 0, 2**63 - 1)
        _check_int("image.virtual_size", self.virtual_size, 0, 2**63 - 1)
        for field in ("sha256", "initrd_sha256"):
            value = getattr(self, field)
            if value is not None and (
                not isinstance(value, str) or not _SHA256_RE.fullmatch(value)
            ):
                raise InvalidInput(f"image.{field}", f"invalid digest {_show(value)}", "64 hex")
        _timestamp("image.created_at", self.created_at)

    def _check_kind(self) -> None:
        if self.kernel_path is not None:
            if self.disk_format is not None or self.path is not None:
                raise InvalidInput("image.disk_format", "a kernel boot image has no disk", ["None"])
            if self.cmdline is not None:
                _check_text("image.cmdline", self.cmdline, MAX_CMDLINE)
            return
        _check_choice("image.disk_format", self.disk_format, DISK_FORMATS)
        if self.path is None:
            raise InvalidInput("image.path", "a disk image needs a path")
        if self.initrd_path is not None or self.cmdline is not None:
            raise InvalidInput("image.initrd_path", "initrd and cmdline need a kernel")

    @property
    def is_kernel_boot(self) -> bool:
        """True for a direct kernel boot image (kernel + optional initrd + command line)."""
        return self.kernel_path is not None

    def prop(self, key: str, default: str | None = None) -> str | None:
        """The image property ``key`` (e.g. ``hw_machine_type``), or ``default``."""
        return self.properties.get(key, default)


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
    if not isinstance(value, str) or _HOST_RE.fullmatch(value) is None:
        raise InvalidInput(field, f"invalid host {_show(value)}", "a host name or IP address")
    return value


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
    volume that QEMU decrypts (the guest sees the plain content).
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

    def __post_init__(self) -> None:
        if not isinstance(self.source, NetworkDiskSource):
            _set(self, "source", _check_path("block_device.source", self.source))
        _check_tag("block_device.tag", self.tag)
        for flag in ("readonly", "shareable"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidInput(
                    f"block_device.{flag}", f"invalid {_show(getattr(self, flag))}", "bool"
                )
        if self.encryption_secret is not None:
            secret = validate_uuid(self.encryption_secret, "block_device.encryption_secret")
            _set(self, "encryption_secret", secret)
        if self.format is not None:
            _check_choice("block_device.format", self.format, DISK_FORMATS)
        if not isinstance(self.target, str) or _TARGET_RE.fullmatch(self.target) is None:
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


@dataclasses.dataclass(frozen=True)
class Rescue:
    """How a rescued instance boots: from ``image`` (its rescue disk, an overlay of it in the
    instance folder, or its kernel and initrd), with the instance's root disk as second disk.
    ``config_drive``: a config drive made for the rescue boot (else the instance's own, if any).
    """

    image: Image
    config_drive: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.image, Image):
            raise InvalidInput("rescue.image", f"expected an Image, got {_show(self.image)}")
        if not isinstance(self.config_drive, bool):
            raise InvalidInput("rescue.config_drive", f"invalid {_show(self.config_drive)}", "bool")


@dataclasses.dataclass(frozen=True)
class Instance:
    """A guest: what it runs (image, flavor), where (arch, machine and domain type), its state.

    ``machine_type`` and ``domain_type`` are pinned when the instance is spawned so that a host
    upgrade never silently changes a guest's virtual hardware.
    """

    uuid: str
    name: str
    flavor: Flavor
    image: Image
    arch: str
    machine_type: str | None = None
    domain_type: str | None = None
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    state: InstanceState = InstanceState.BUILDING
    task: Task | None = None
    block_devices: tuple[BlockDeviceSpec, ...] = ()
    nics: tuple[NICSpec, ...] = ()
    created_at: datetime = dataclasses.field(default_factory=utcnow)
    updated_at: datetime = dataclasses.field(default_factory=utcnow)
    #: the config drive's disk target (e.g. ``vdb``), or None for an instance without one
    config_drive: str | None = None
    #: the TCP port of the interactive console (``serial_tcp``), or None: it never had one
    serial_port: int | None = None
    #: how the instance boots while it is rescued (:meth:`ComputeDriver.rescue`); None: it is not
    rescue: Rescue | None = None

    def __post_init__(self) -> None:
        _set(self, "uuid", validate_uuid(self.uuid, "instance.uuid"))
        validate_name(self.name, "instance.name", allow_uuid=False)
        if not isinstance(self.flavor, Flavor):
            raise InvalidInput("instance.flavor", f"expected a Flavor, got {_show(self.flavor)}")
        if not isinstance(self.image, Image):
            raise InvalidInput("instance.image", f"expected an Image, got {_show(self.image)}")
        _check_choice("instance.arch", self.arch, ARCHES)
        if self.image.arch is not None and self.image.arch != self.arch:
            raise InvalidInput(
                "instance.arch", f"image {self.image.name} is {self.image.arch}", [self.image.arch]
            )
        if self.machine_type is not None:
            validate_name(self.machine_type, "instance.machine_type")
        if self.domain_type is not None:
            _check_choice("instance.domain_type", self.domain_type, DOMAIN_TYPES)
        _set(self, "metadata", _string_map("instance.metadata", self.metadata, _MAX_METADATA))
        _set(self, "state", _enum_value("instance.state", InstanceState, self.state))
        if self.task is not None:
            _set(self, "task", _enum_value("instance.task", Task, self.task))
        self._check_devices()
        if self.serial_port is not None:
            _check_int("instance.serial_port", self.serial_port, 1, 65535)
        if self.rescue is not None and not isinstance(self.rescue, Rescue):
            raise InvalidInput("instance.rescue", f"expected a Rescue, got {_show(self.rescue)}")
        _timestamp("instance.created_at", self.created_at)
        _timestamp("instance.updated_at", self.updated_at)

    def _check_devices(self) -> None:
        _set(self, "block_devices", tuple(self.block_devices))
        _set(self, "nics", tuple(self.nics))
        targets = [bd.target for bd in self.block_devices]
        if self.config_drive is not None:
            if not isinstance(self.config_drive, str) or not _TARGET_RE.fullmatch(
                self.config_drive
            ):
                raise InvalidInput(
                    "instance.config_drive",
                    f"invalid target {_show(self.config_drive)}",
                    "vdX, sdX or hdX",
                )
            targets.append(self.config_drive)
        if len(set(targets)) != len(targets):
            raise InvalidInput("instance.block_devices", f"duplicate targets in {targets}")
        for field in ("mac", "tap"):
            values = [getattr(nic, field) for nic in self.nics if getattr(nic, field) is not None]
            if len(set(values)) != len(values):
                raise InvalidInput("instance.nics", f"duplicate {field} values in {values}")

    def replace(self, **changes: object) -> Instance:
        """A copy with some fields changed (and validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class UnusableRecord:
    """A recorded flavor or image that today's rules refuse.

    An older zcompute accepted more: architectures that have no profile (``armv7l``, ``i686``),
    extra spec values that no boot can use; a record may also have been edited by hand. Such a
    record is listed, with :attr:`problem`, and can be deleted; using it raises :meth:`error`.
    ``id`` is what identifies it for a delete (a flavor's name, an image's id); ``recorded``
    holds its columns as stored, for display.
    """

    kind: Literal["flavor", "image"]
    id: str
    name: str
    problem: InvalidInput
    recorded: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def reason(self) -> str:
        """What today's rules refuse, with the allowed values (one line)."""
        return str(self.problem)

    def error(self) -> InvalidInput:
        """The error of any use: the field, the recorded value, the record and what is allowed."""
        return InvalidInput(
            self.problem.field,
            f"{self.problem.message} in the recorded {self.kind} {self.name}",
            self.problem.allowed,
        )
