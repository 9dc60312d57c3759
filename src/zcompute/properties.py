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
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from zcompute.arch import ARCHES, IMAGE_ARCH_PROPERTY, IMAGE_MACHINE_PROPERTY, WATCHDOG_ACTIONS

__all__ = [
    "CMDLINE_PROPERTY",
    "DISK_BUSES",
    "DISK_BUS_PROPERTY",
    "EMULATION_ARCH_PROPERTY",
    "FALSE_WORDS",
    "GUEST_AGENT_PROPERTY",
    "IMAGE_ARCH_PROPERTY",
    "IMAGE_MACHINE_PROPERTY",
    "IMAGE_PROPERTIES",
    "KERNEL_ID_PROPERTY",
    "MAX_CMDLINE",
    "POINTER_MODEL_PROPERTY",
    "TESTIMAGE_KEY_PROPERTY",
    "TRUE_WORDS",
    "VIF_MODEL_PROPERTY",
    "WATCHDOG_PROPERTY",
    "ImageProperty",
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


@dataclasses.dataclass(frozen=True)
class ImageProperty:
    """One property zcompute reads: its key, what it accepts, and which modules read it.

    A value is one of ``allowed`` when that is given; otherwise ``form`` says what it is:
    ``name`` (a name as :func:`zcompute.model.validate_name` accepts it), ``text`` (printable
    text of at most ``max_length`` characters) or ``reference`` (any printable text: its reader
    resolves it, e.g. an image name or id, and says when it names nothing). ``read_by`` names
    the modules under ``zcompute`` that act on it. ``flavor``: a flavor extra spec with this
    key is checked too; False for properties only zcompute itself writes on images.
    """

    key: str
    read_by: tuple[str, ...]
    allowed: tuple[str, ...] = ()
    form: Literal["choice", "name", "text", "reference"] = "choice"
    max_length: int | None = None
    flavor: bool = True

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
        )
    }
)
