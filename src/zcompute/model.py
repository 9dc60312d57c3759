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

from zcompute._checks import NAME_RULE, validate_name, validate_uuid
from zcompute._checks import check_choice as _check_choice
from zcompute._checks import check_int as _check_int
from zcompute._checks import check_path as _check_path
from zcompute._checks import check_text as _check_text
from zcompute._checks import set_field as _set
from zcompute._checks import show as _show
from zcompute._devicespecs import (
    DEVICE_TAG_RULE,
    DISK_FORMATS,
    IFNAME_RULE,
    ISCSI_NAME_RULE,
    NIC_MODELS,
    TARGET_RE,
    BlockDeviceSpec,
    NetworkDiskSource,
    NICSpec,
    check_chap_username,
    check_iscsi_name,
    check_network_host,
    network_source_text,
)
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


_KEY_RULE = "1-255 characters from A-Z a-z 0-9 _ : . -"
_KEY_RE = re.compile(r"[A-Za-z0-9_:.-]{1,255}")
# a Linux network interface name (IFNAMSIZ, and safe on ip's command line): bridges and taps
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

_MAX_METADATA = 255  # Nova's limit for instance metadata keys and values
_MAX_PROPERTY = 65535  # Glance's limit for an image property value

#: Longest wait any operation takes (seconds): a week. Longer is a typo, not a wish.
MAX_TIMEOUT = 7 * 24 * 3600
TIMEOUT_RULE = f"seconds from 0 to {MAX_TIMEOUT}"


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
    # a guest arriving by migration: recovery keeps it if it runs here, else removes it
    INCOMING = "incoming"
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


@dataclasses.dataclass(frozen=True)
class Image:
    """A bootable image: a raw/qcow2 disk, or a kernel (+ initrd + command line), or what a
    root volume holds (a volume image: no bytes; its guest boots from the volume).

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
        if self.initrd_path is not None or self.cmdline is not None:
            raise InvalidInput("image.initrd_path", "initrd and cmdline need a kernel")
        if self.disk_format is None and self.path is None:
            if self.size or self.virtual_size:
                raise InvalidInput("image.size", "a volume image holds no bytes", ["0"])
            return  # a volume image: what the root volume holds is described, not stored
        _check_choice("image.disk_format", self.disk_format, DISK_FORMATS)
        if self.path is None:
            raise InvalidInput("image.path", "a disk image needs a path")

    @property
    def is_kernel_boot(self) -> bool:
        """True for a direct kernel boot image (kernel + optional initrd + command line)."""
        return self.kernel_path is not None

    @property
    def is_volume_image(self) -> bool:
        """True for the description of a root volume's content (boot from volume): its
        architecture and properties only; a guest boots it from its volume, never alone."""
        return self.kernel_path is None and self.path is None

    def prop(self, key: str, default: str | None = None) -> str | None:
        """The image property ``key`` (e.g. ``hw_machine_type``), or ``default``."""
        return self.properties.get(key, default)


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
            if not isinstance(self.config_drive, str) or not TARGET_RE.fullmatch(self.config_drive):
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
