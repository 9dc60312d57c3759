"""Image properties zcompute acts on: each declared once, with its allowed values and readers.

An image's properties (and a flavor's extra specs, which a boot merges over them, the flavor
winning) are Glance/Nova-style ``key=value`` text. :data:`IMAGE_PROPERTIES` declares every key
zcompute reads: the values it accepts, the form of a free value, and the modules that read it.
:mod:`zcompute.model` checks images and flavors against it; the readers import the keys from
here. A unit test holds each declaration to its readers, and every ``hw_*`` key that appears
in the sources to a declaration, so the checked set and the read set stay one set.

Nova's ``hw_emulation_architecture``, ``hw_vif_model`` and ``hw_pointer_model`` are read by
the Nova adapter (:mod:`zcompute.nova`): the guest architecture, the model recorded with every
NIC of the guest (so hotplug and re-plans keep it), and a tablet the architecture may not have.

Only what zcompute reads is checked. Nova's ``hw_cdrom_bus``,
``hw_firmware_type``, ``hw_video_model``, ``hw_rng_model``,
``hw_boot_menu`` and ``hw_serial_port_count`` used to be checked here although nothing read
them. None is trivial to read correctly: a NIC model or CD-ROM bus must also reach hotplug and
every re-plan of a guest, and the others need devices or firmware the builder does not write.
They are now kept as given, like any other property zcompute does not act on, instead of
looking validated; reading one means declaring it here with its reader.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Literal

from zcompute.arch import (
    ARCHES,
    IMAGE_ARCH_PROPERTY,
    IMAGE_MACHINE_PROPERTY,
    WATCHDOG_ACTIONS,
    ArchProfile,
    Status,
    get_profile,
)

__all__ = [
    "ADMIN_USER_PROPERTY",
    "CMDLINE_PROPERTY",
    "DISK_BUSES",
    "DISK_BUS_PROPERTY",
    "DISK_IOTUNE_EXCLUSIVE",
    "DISK_IOTUNE_SPECS",
    "DISK_READ_BYTES_SEC",
    "DISK_READ_IOPS_SEC",
    "DISK_TOTAL_BYTES_SEC",
    "DISK_TOTAL_IOPS_SEC",
    "DISK_WRITE_BYTES_SEC",
    "DISK_WRITE_IOPS_SEC",
    "EMULATION_ARCH_PROPERTY",
    "FALSE_WORDS",
    "GUEST_AGENT_PROPERTY",
    "IMAGE_ARCH_PROPERTY",
    "IMAGE_MACHINE_PROPERTY",
    "IMAGE_PROPERTIES",
    "KERNEL_ID_PROPERTY",
    "MAX_CMDLINE",
    "MAX_IOTUNE",
    "POINTER_MODEL_PROPERTY",
    "REQUIRE_QUIESCE_PROPERTY",
    "TESTIMAGE_KEY_PROPERTY",
    "TRUE_WORDS",
    "VIF_MODEL_PROPERTY",
    "WATCHDOG_PROPERTY",
    "ImageProperty",
    "image_property_table",
]

#: The disk buses an image, a flavor or a volume may name (each arch allows a subset of them).
DISK_BUSES = ("virtio", "scsi", "sata", "ide", "usb")
MAX_CMDLINE = 4096  # COMMAND_LINE_SIZE of current x86_64 and s390x kernels

DISK_BUS_PROPERTY = "hw_disk_bus"
WATCHDOG_PROPERTY = "hw_watchdog_action"
GUEST_AGENT_PROPERTY = "hw_qemu_guest_agent"
#: Nova's flexible booleans: how image properties such as hw_qemu_guest_agent say yes, and no.
TRUE_WORDS = ("yes", "true", "on", "1")
FALSE_WORDS = ("no", "false", "off", "0")
CMDLINE_PROPERTY = "os_command_line"
#: Nova's: the guest user whose password a set-admin-password sets (default ``root``).
ADMIN_USER_PROPERTY = "os_admin_user"
#: Nova's: a live snapshot must quiesce the guest (through its agent) or fail.
REQUIRE_QUIESCE_PROPERTY = "os_require_quiesce"
#: Nova's: the architecture a guest is emulated as (before ``hw_architecture``).
EMULATION_ARCH_PROPERTY = "hw_emulation_architecture"
#: Nova's: the NIC model of every NIC of a guest booted from the image.
VIF_MODEL_PROPERTY = "hw_vif_model"
#: Nova's: a USB tablet for the guest's pointer.
POINTER_MODEL_PROPERTY = "hw_pointer_model"
#: Image property of a disk image made from a kernel-boot guest: the id of the kernel-boot image
#: (kernel, initrd, command line) it boots with, like Nova's ``kernel_id``.
KERNEL_ID_PROPERTY = "kernel_id"
#: Image property of an imported test image: the content key of the build it was made from.
TESTIMAGE_KEY_PROPERTY = "zcompute_testimage_key"

# Nova's flavor extra specs for disk I/O limits: each becomes the ``<iotune>`` element of the
# same name (without ``disk_``) on the guest's local disks. Nova's libvirt driver reads these
# six from a flavor (nova.virt.libvirt.imagebackend.Image.disk_qos); its ``_max`` burst and
# ``size_iops_sec`` limits come only from Cinder's QoS specs of a volume.
DISK_TOTAL_BYTES_SEC = "quota:disk_total_bytes_sec"
DISK_READ_BYTES_SEC = "quota:disk_read_bytes_sec"
DISK_WRITE_BYTES_SEC = "quota:disk_write_bytes_sec"
DISK_TOTAL_IOPS_SEC = "quota:disk_total_iops_sec"
DISK_READ_IOPS_SEC = "quota:disk_read_iops_sec"
DISK_WRITE_IOPS_SEC = "quota:disk_write_iops_sec"
DISK_IOTUNE_SPECS = (
    DISK_TOTAL_BYTES_SEC,
    DISK_READ_BYTES_SEC,
    DISK_WRITE_BYTES_SEC,
    DISK_TOTAL_IOPS_SEC,
    DISK_READ_IOPS_SEC,
    DISK_WRITE_IOPS_SEC,
)
#: A total limit excludes the read and write limits of its kind (libvirt and QEMU refuse both).
DISK_IOTUNE_EXCLUSIVE = (
    (DISK_TOTAL_BYTES_SEC, (DISK_READ_BYTES_SEC, DISK_WRITE_BYTES_SEC)),
    (DISK_TOTAL_IOPS_SEC, (DISK_READ_IOPS_SEC, DISK_WRITE_IOPS_SEC)),
)
#: QEMU's largest throttle value (THROTTLE_VALUE_MAX); 0 means no limit, as in libvirt.
MAX_IOTUNE = 10**15


@dataclasses.dataclass(frozen=True)
class ImageProperty:
    """One property zcompute reads: its key, what it accepts, and which modules read it.

    A value is one of ``allowed`` when that is given; otherwise ``form`` says what it is:
    ``name`` (a name as :func:`zcompute.model.validate_name` accepts it), ``text`` (printable
    text of at most ``max_length`` characters), ``reference`` (any printable text: its reader
    resolves it, e.g. an image name or id, and says when it names nothing) or ``count`` (an
    integer from 0 to ``max_count``). ``read_by`` names the modules under ``zcompute`` that act
    on it. ``flavor``: a flavor extra spec with this key is checked too; False for properties
    only zcompute itself writes on images. ``image``: False for Nova's flavor-only extra specs
    (``quota:*``), which an image's property of the same key does not set (kept as given).
    """

    key: str
    read_by: tuple[str, ...]
    allowed: tuple[str, ...] = ()
    form: Literal["choice", "name", "text", "reference", "count"] = "choice"
    max_length: int | None = None
    flavor: bool = True
    image: bool = True
    max_count: int | None = None

    def __post_init__(self) -> None:
        if (self.form == "choice") != bool(self.allowed):
            raise ValueError(f"{self.key}: allowed values are for (and only for) a choice")


#: Every image property zcompute acts on, each declared once; any other property is kept as is.
IMAGE_PROPERTIES: Mapping[str, ImageProperty] = MappingProxyType(
    {
        prop.key: prop
        for prop in (
            # a flavor's is checked too, though a guest's arch is its image's alone
            ImageProperty(IMAGE_ARCH_PROPERTY, ("plan", "images._store"), ARCHES),
            ImageProperty(IMAGE_MACHINE_PROPERTY, ("arch._machine",), form="name"),
            ImageProperty(DISK_BUS_PROPERTY, ("plan", "driver._devices"), DISK_BUSES),
            # Nova's "disabled" (no watchdog), or an action the architecture profiles accept
            ImageProperty(WATCHDOG_PROPERTY, ("plan",), ("disabled", *WATCHDOG_ACTIONS)),
            ImageProperty(GUEST_AGENT_PROPERTY, ("plan",), (*TRUE_WORDS, *FALSE_WORDS)),
            ImageProperty(ADMIN_USER_PROPERTY, ("driver._agent",), form="name"),
            ImageProperty(
                REQUIRE_QUIESCE_PROPERTY, ("driver._quiesce",), (*TRUE_WORDS, *FALSE_WORDS)
            ),
            ImageProperty(
                CMDLINE_PROPERTY, ("plan", "images._store"), form="text", max_length=MAX_CMDLINE
            ),
            ImageProperty(
                KERNEL_ID_PROPERTY,
                ("driver._guests", "images._store"),
                form="reference",
                flavor=False,
            ),
            ImageProperty(
                TESTIMAGE_KEY_PROPERTY, ("testimage._import",), form="reference", flavor=False
            ),
            ImageProperty(EMULATION_ARCH_PROPERTY, ("nova._translate",), ARCHES),
            # checked against the guest's arch profile when the NIC is planned
            ImageProperty(VIF_MODEL_PROPERTY, ("nova._driver",), form="name"),
            ImageProperty(POINTER_MODEL_PROPERTY, ("nova._translate",), ("usbtablet",)),
            *(
                ImageProperty(key, ("plan",), form="count", image=False, max_count=MAX_IOTUNE)
                for key in DISK_IOTUNE_SPECS
            ),
        )
    }
)


# -- the operator's table: what each property does on each architecture ------------------------

#: Nova's own image properties behind a kernel-boot image and a config drive: Nova (or the Nova
#: adapter's Glance fetch) reads them, so zcompute declares no check for them above.
RAMDISK_ID_PROPERTY = "ramdisk_id"
CONFIG_DRIVE_PROPERTY = "img_config_drive"


def _code(values: Sequence[str]) -> str:
    return ", ".join(f"`{value}`" for value in values)


def _arch_cell(profile: ArchProfile) -> str:
    aliases = f" (or {_code(profile.aliases)})" if profile.aliases else ""
    return f"`{profile.arch}`{aliases}"


def _pointer_cell(profile: ArchProfile) -> str:
    if profile.tablet_bus is None:
        return f"`usbtablet` refused: {profile.arch} guests have no USB tablet"
    return (
        f"`usbtablet` accepted; a {profile.tablet_bus} tablet comes only with a VNC or SPICE "
        "console"
    )


def _feature_cell(profile: ArchProfile, key: str, what: str) -> str:
    claim = profile.claim(key)
    if claim.status is Status.MISSING:
        return f"refused: {claim.note}" if claim.note else "refused"
    return claim.note or what


def _agent_cell(profile: ArchProfile) -> str:
    if profile.claim("guest-agent").status is Status.MISSING:
        return _feature_cell(profile, "guest-agent", "")
    return "through the guest agent"


def _watchdog_cell(profile: ArchProfile) -> str:
    if not profile.supports("watchdog") or profile.watchdog_model is None:
        return _feature_cell(profile, "watchdog", "")
    return f"`{profile.watchdog_model}` device"


#: (key, what it does everywhere, what it means on one architecture), in the table's order.
_PROPERTY_ROWS: tuple[tuple[str, str, Callable[[ArchProfile], str]], ...] = (
    (
        EMULATION_ARCH_PROPERTY,
        "The guest's architecture, first choice. With the image-metadata prefilter Nova "
        "requires `COMPUTE_ARCH_<ARCH>`: a host that runs such guests, with KVM or emulated "
        "(TCG).",
        _arch_cell,
    ),
    (
        IMAGE_ARCH_PROPERTY,
        f"The guest's architecture when `{EMULATION_ARCH_PROPERTY}` is not set (else the "
        "host's). Nova's ImagePropertiesFilter matches it with the host's supported instances; "
        "the prefilter requires `HW_ARCH_<ARCH>`, the *host's* architecture.",
        _arch_cell,
    ),
    (
        IMAGE_MACHINE_PROPERTY,
        "The machine type, before `[libvirt] hw_machine_type` and the architecture's default. "
        "It must be offered by the host for the architecture and domain type; the canonical "
        "(versioned) name is pinned for the guest's life.",
        lambda p: (
            f"default `{p.default_machine}`; families "
            + ", ".join(f"`{family}*`" for family in p.machine_families)
        ),
    ),
    (
        DISK_BUS_PROPERTY,
        "The root disk's bus. The prefilter requires `COMPUTE_STORAGE_BUS_<BUS>`.",
        lambda p: f"{_code(p.disk_buses)}; default `{p.disk_bus}`",
    ),
    (
        VIF_MODEL_PROPERTY,
        "The model of every NIC of the guest (kept for later plans). The prefilter requires "
        "`COMPUTE_NET_VIF_MODEL_<MODEL>`.",
        lambda p: f"{_code(p.nic_models)}; default `{p.nic_model}`",
    ),
    (
        POINTER_MODEL_PROPERTY,
        "Nova's USB tablet for the pointer.",
        _pointer_cell,
    ),
    (
        WATCHDOG_PROPERTY,
        "A watchdog device with this action: "
        + _code(WATCHDOG_ACTIONS)
        + "; `disabled` or unset: none. The flavor's `hw:watchdog_action` wins.",
        _watchdog_cell,
    ),
    (
        GUEST_AGENT_PROPERTY,
        f"{_code(TRUE_WORDS)}: a virtio-serial channel `org.qemu.guest_agent.0` for the QEMU "
        "guest agent.",
        lambda p: _feature_cell(p, "guest-agent", f"virtio-serial on the {p.address_type} bus"),
    ),
    (
        ADMIN_USER_PROPERTY,
        "The guest user whose password set-admin-password (`changePassword`) sets through the "
        "guest agent; default `root`.",
        _agent_cell,
    ),
    (
        REQUIRE_QUIESCE_PROPERTY,
        f"{_code(TRUE_WORDS)}: a snapshot of a running guest must freeze its file systems "
        f"through the guest agent or fail; else with `{GUEST_AGENT_PROPERTY}` it tries, and "
        "goes on crash-consistent if the agent does not answer.",
        _agent_cell,
    ),
    (
        CMDLINE_PROPERTY,
        f"The kernel command line of a kernel-boot image (at most {MAX_CMDLINE} characters). "
        "Its `console=` words are replaced by the architecture's.",
        lambda p: "adds " + _code(p.kernel_console_args()),
    ),
    (
        KERNEL_ID_PROPERTY,
        f"With `{RAMDISK_ID_PROPERTY}`: the Glance ids of an `aki` kernel and an `ari` ramdisk, "
        "booted directly (an `ami` without data: the kernel alone; a disk image: with the disk "
        "as root).",
        lambda p: "the same on every architecture",
    ),
    (
        CONFIG_DRIVE_PROPERTY,
        "`mandatory`: the server gets a config drive (also `[DEFAULT] force_config_drive` or "
        "the request's `config_drive`).",
        lambda p: _feature_cell(
            p, "config-drive", f"a read-only {p.config_drive_bus} {p.config_drive_device}"
        ),
    ),
)


def _iotune_row(key: str) -> tuple[str, str, Callable[[ArchProfile], str]]:
    direction, unit = key.removeprefix("quota:disk_").split("_")[:2]
    units = "bytes" if unit == "bytes" else "I/O operations"
    excludes = "read and write limits" if direction == "total" else "total limit"
    return (
        key,
        f"Flavor extra spec only: at most this many {units} per second ({direction}) on each "
        "of the guest's own disks (root, ephemeral, swap, config drive; not volumes), as "
        f"`<iotune>`; 0: no limit. Excludes the {excludes}.",
        lambda p: _feature_cell(p, "disk-rate-limit", "QEMU block-layer throttling"),
    )


_PROPERTY_ROWS += tuple(_iotune_row(key) for key in DISK_IOTUNE_SPECS)


def image_property_table(arches: Sequence[str]) -> str:
    """A Markdown table: what each image property zcompute (or Nova for it) acts on does, and
    what it means on each of ``arches``, from :data:`IMAGE_PROPERTIES` and the profiles."""
    profiles = [get_profile(arch) for arch in arches]
    header = ["Property", "What it does", *(f"on {p.arch}" for p in profiles)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for key, does, cell in _PROPERTY_ROWS:
        lines.append("| " + " | ".join([f"`{key}`", does, *(cell(p) for p in profiles)]) + " |")
    return "\n".join(lines) + "\n"


def image_property_table_keys() -> tuple[str, ...]:
    """The keys of :func:`image_property_table`'s rows, in order."""
    return tuple(key for key, _does, _cell in _PROPERTY_ROWS)
