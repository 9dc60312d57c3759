"""Guest architecture and emulation: which arch, KVM or TCG, and which emulator binary."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from zcompute.arch._profile import GuestDomainType
from zcompute.arch._registry import ARCHES, canonical_arch
from zcompute.config import VIRT_TYPES
from zcompute.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from zcompute.host import GuestArch, HostCapabilities

__all__ = [
    "IMAGE_ARCH_PROPERTY",
    "VIRT_TYPES",
    "GuestPlatform",
    "choose_guest",
    "offered_arches",
]

IMAGE_ARCH_PROPERTY = "hw_architecture"


@dataclasses.dataclass(frozen=True)
class GuestPlatform:
    """The guest's arch, domain type (``kvm`` or ``qemu`` = TCG) and emulator, with why."""

    arch: str
    domain_type: GuestDomainType
    emulator: str | None
    reason: str

    @property
    def emulated(self) -> bool:
        return self.domain_type == "qemu"


def offered_arches(text: str) -> tuple[str, ...] | None:
    """The guest architectures a host offers (the ``guest_arches`` setting); None: all."""
    names = [name for name in text.split(",") if name.strip()]
    if not names:
        return None
    try:
        return tuple(dict.fromkeys(canonical_arch(name, "guest_arches") for name in names))
    except InvalidInput as err:
        raise ConfigError("guest_arches", str(err), ARCHES) from None


def choose_guest(
    requested_arch: str | None,
    host_caps: HostCapabilities,
    virt_type: str,
    kvm_usable: bool,
    offered: tuple[str, ...] | None = None,
) -> GuestPlatform:
    """Decide arch and domain type.

    The arch is the image's ``hw_architecture`` or else the host's. ``virt_type`` ``qemu``
    always emulates; ``auto`` uses KVM when the guest arch is the host's, KVM is usable and
    libvirt offers it, and falls back to TCG otherwise; ``kvm`` insists and fails clearly when
    KVM cannot run the guest (an explicit setting must not be downgraded silently).
    """
    if virt_type not in VIRT_TYPES:
        raise ConfigError("virt_type", f"unknown value {virt_type!r}", VIRT_TYPES)
    if requested_arch:
        arch = canonical_arch(requested_arch, IMAGE_ARCH_PROPERTY)
    else:
        arch = canonical_arch(host_caps.arch, "host arch")
    if offered is not None and arch not in offered:
        raise InvalidInput(
            IMAGE_ARCH_PROPERTY, f"this host does not offer {arch} guests (guest_arches)", offered
        )
    guest = host_caps.guest(arch)
    if guest is None:
        runs = [a for a in host_caps.guest_arches if a in ARCHES]
        raise InvalidInput(IMAGE_ARCH_PROPERTY, f"this host cannot run {arch} guests", runs)
    blocker = _kvm_blocker(arch, host_caps, guest, kvm_usable)
    if virt_type == "kvm" and blocker:
        raise ConfigError("virt_type", f"kvm is configured but {blocker}", ("auto", "qemu"))
    if virt_type == "kvm" or (virt_type == "auto" and not blocker):
        return GuestPlatform(
            arch, "kvm", guest.emulator_for("kvm"), "KVM: host arch, usable and offered"
        )
    reason = "virt_type is qemu" if virt_type == "qemu" else str(blocker)
    if "qemu" not in guest.domain_types:
        raise InvalidInput("domain type", f"the host offers no TCG for {arch}", guest.domain_types)
    return GuestPlatform(arch, "qemu", guest.emulator_for("qemu"), f"TCG: {reason}")


def _kvm_blocker(
    arch: str, host_caps: HostCapabilities, guest: GuestArch, kvm_usable: bool
) -> str | None:
    """Why KVM cannot run this guest here, or None when it can."""
    if arch != host_caps.arch:
        return f"the guest arch {arch} is not the host arch {host_caps.arch}"
    if not kvm_usable:
        return "KVM is not usable on this host"
    if "kvm" not in guest.domain_types:
        return f"libvirt offers no kvm domain type for {arch}"
    return None
