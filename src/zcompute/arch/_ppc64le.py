"""ppc64le: every rule zcompute has for little-endian POWER guests (``pseries``, spapr-vty)."""

from __future__ import annotations

from types import MappingProxyType

from zcompute.arch._cpucompat import CpuCatalog, CpuCompat, CpuGeneration
from zcompute.arch._featuresets import ACPI, ARM_ONLY, X86_ONLY
from zcompute.arch._profile import ArchProfile, ConsoleLayout, ConsoleSpec
from zcompute.arch._support import Claim, Status

COMPLETE, PARTIAL, MISSING = Status.COMPLETE, Status.PARTIAL, Status.MISSING

__all__ = ["PPC64LE"]


def _layout(log_path: str, form: str, virtlogd: bool) -> ConsoleLayout:
    """A spapr-vty (hvc0) for both roles with virtlogd; else a second vty for the pty."""
    del form
    if virtlogd:
        pty = ConsoleSpec(
            "serial", "pty", "spapr-vio-serial", "interactive", "spapr-vty",
            log_file=log_path, log_append=True, port=0,
        )  # fmt: skip
        return ConsoleLayout((pty,), ("console=hvc0",), "/dev/hvc0")
    specs = (
        ConsoleSpec(
            "serial", "file", "spapr-vio-serial", "log", "spapr-vty", path=log_path, port=0
        ),
        ConsoleSpec("serial", "pty", "spapr-vio-serial", "interactive", "spapr-vty", port=1),
    )
    return ConsoleLayout(specs, ("console=hvc1", "console=hvc0"), "/dev/hvc1")


# libvirt's POWER models (cpu_map/ppc64): a newer processor runs an older one's model in its
# compatibility mode, so a guest moves to a host of its model's generation or newer; a
# host-passthrough guest only to the same processor. Little-endian guests start at POWER8.
_CPU_COMPAT = CpuCompat(
    baselines="catalog",
    catalog=CpuCatalog(
        models=tuple(CpuGeneration(f"POWER{n}", n, 1, f"POWER{n}") for n in (8, 9, 10))
    ),
)

_SUPPORT = MappingProxyType(
    {
        "launch": Claim(COMPLETE),
        "terminate": Claim(COMPLETE),
        "get-guest-info": Claim(COMPLETE),
        "reboot": Claim(COMPLETE),
        "power-off-on": Claim(COMPLETE),
        "pause": Claim(COMPLETE),
        "suspend": Claim(COMPLETE, "managed save"),
        "snapshot": Claim(COMPLETE),
        "rescue": Claim(COMPLETE),
        "console-log": Claim(COMPLETE, "spapr-vty (hvc0)"),
        "interactive-console": Claim(COMPLETE, "spapr-vty (hvc0)"),
        "vnc": Claim(COMPLETE, "standard VGA on pseries"),
        "spice": Claim(MISSING, "no QXL adapter on POWER"),
        "inject-networking": Claim(PARTIAL, "file injection into Debian-style guests only"),
        "attach-volume": Claim(COMPLETE),
        "attach-volume-fc": Claim(PARTIAL, "PCI HBA as on x86; untested"),
        "attach-volume-iscsi": Claim(PARTIAL, "as on x86_64; untested"),
        "attach-interface": Claim(COMPLETE),
        "swap-volume": Claim(PARTIAL, "as on x86_64; untested"),
        "device-tags": Claim(PARTIAL, "PCI addresses as on x86; untested"),
        "trigger-crash-dump": Claim(COMPLETE, "the NMI is a system reset interrupt"),
        "watchdog": Claim(PARTIAL, "i6300esb on PCI; untested"),
        "config-drive": Claim(COMPLETE, "a read-only virtio-blk disk"),
        "guest-agent": Claim(COMPLETE),
        "disk-rate-limit": Claim(COMPLETE),
        "file-backed-memory": Claim(PARTIAL, "a shared memory-backend-file; untested"),
        "boot-from-volume": Claim(PARTIAL, "as on x86_64; untested"),
        "live-migration": Claim(
            COMPLETE, "a KVM guest only to a host of its CPU model's POWER generation or newer"
        ),
        "resize": Claim(COMPLETE),
        "secure-execution": Claim(MISSING, "IBM Z only (POWER PEF is not modelled)"),
    }
)

PPC64LE = ArchProfile(
    arch="ppc64le",
    aliases=("ppc64el",),
    default_machine="pseries",
    machine_families=("pseries",),
    features=(),
    unsupported_features=ACPI + X86_ONLY + ARM_ONLY,
    disk_bus="virtio",
    disk_buses=("virtio", "scsi", "usb"),
    cdrom_bus="scsi",
    cdrom_buses=("scsi", "usb"),
    nic_models=(
        "virtio",
        "virtio-transitional",
        "virtio-non-transitional",
        "spapr-vlan",
        "e1000",
    ),
    address_type="pci",
    virtio_address_types=("pci", "spapr-vio"),
    usb_controller_model=None,
    tablet_bus="usb",
    watchdog_model="i6300esb",
    watchdog_models=("i6300esb",),
    panic_model=None,
    panic_models=("pseries",),
    video_model="vga",
    video_models=("vga", "virtio", "bochs", "none"),
    graphics_types=("vnc",),
    sound=True,
    kvm_cpu_modes=("host-model", "host-passthrough"),
    tcg_cpu_models=("POWER9", "POWER8"),
    cpu_compat=_CPU_COMPAT,
    fc_transport="scsi-scan",
    console_forms=MappingProxyType({"console": 0, "serial": 0}),
    console_layout=_layout,
    default_console_target="serial",
    default_serial_target="spapr-vio-serial",
    serial_targets=("spapr-vio-serial", "pci-serial"),
    console_targets=("serial", "virtio"),
    early_console_targets=("spapr-vio-serial", "serial"),
    support=_SUPPORT,
    nova_driver="libvirt-kvm-ppc64",
)
