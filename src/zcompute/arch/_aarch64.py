"""aarch64: every rule zcompute has for 64-bit Arm guests (``virt`` machine, PL011 serial)."""

from __future__ import annotations

from types import MappingProxyType

from zcompute.arch._cpucompat import CpuCompat
from zcompute.arch._featuresets import POWER_ONLY, X86_ONLY
from zcompute.arch._profile import ArchProfile, ConsoleLayout, ConsoleSpec
from zcompute.arch._support import Claim, Status
from zcompute.arch._testimage import VIRTIO_GUEST_MODULES, TestImageRecipe

COMPLETE, PARTIAL, MISSING = Status.COMPLETE, Status.PARTIAL, Status.MISSING

__all__ = ["AARCH64"]


def _layout(log_path: str, form: str, virtlogd: bool) -> ConsoleLayout:
    """The PL011 UART (ttyAMA0) for both roles with virtlogd; else it logs to a file and a
    virtio console (hvc0) is the interactive one, since ``virt`` has a single PL011.
    """
    del form
    if virtlogd:
        pty = ConsoleSpec(
            "serial", "pty", "system-serial", "interactive", "pl011",
            log_file=log_path, log_append=True, port=0,
        )  # fmt: skip
        return ConsoleLayout((pty,), ("console=ttyAMA0",), "/dev/ttyAMA0")
    specs = (
        ConsoleSpec("serial", "file", "system-serial", "log", "pl011", path=log_path, port=0),
        ConsoleSpec("console", "pty", "virtio", "interactive"),
    )
    return ConsoleLayout(specs, ("console=hvc0", "console=ttyAMA0"), "/dev/hvc0")


# KVM guests on Arm run host-passthrough only (libvirt has no usable host-model there), so a
# running guest moves only to a host with the same CPU model, vendor and features; a baseline
# cannot be pinned. libvirt's aarch64 capabilities may name no CPU model: then no running KVM
# guest is moved (zcompute cannot tell the CPUs are the same).
_CPU_COMPAT = CpuCompat(
    baselines="none",
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
        "console-log": Claim(COMPLETE, "PL011 serial (ttyAMA0)"),
        "interactive-console": Claim(COMPLETE, "PL011 serial, or virtio console without virtlogd"),
        "vnc": Claim(PARTIAL, "virtio-gpu only; the guest needs its driver"),
        "spice": Claim(MISSING, "no QXL adapter on aarch64"),
        "inject-networking": Claim(PARTIAL, "file injection into Debian-style guests only"),
        "attach-volume": Claim(COMPLETE),
        "attach-volume-fc": Claim(COMPLETE, "PCI HBA; pci-...-fc-... by-path names"),
        "attach-volume-iscsi": Claim(PARTIAL, "as on x86_64; untested"),
        "attach-interface": Claim(COMPLETE),
        "swap-volume": Claim(PARTIAL, "as on x86_64; untested"),
        "device-tags": Claim(PARTIAL, "PCI addresses as on x86; untested"),
        "trigger-crash-dump": Claim(MISSING, "QEMU's virt machine cannot inject an NMI"),
        "watchdog": Claim(PARTIAL, "i6300esb behind a PCIe-to-PCI bridge; untested"),
        "config-drive": Claim(COMPLETE, "a read-only virtio-blk disk"),
        "guest-agent": Claim(COMPLETE),
        "disk-rate-limit": Claim(COMPLETE),
        "file-backed-memory": Claim(PARTIAL, "a shared memory-backend-file; untested"),
        "boot-from-volume": Claim(PARTIAL, "as on x86_64; untested"),
        "live-migration": Claim(PARTIAL, "host-passthrough CPU: identical hosts only"),
        "resize": Claim(COMPLETE),
        "secure-execution": Claim(MISSING, "IBM Z only (Arm CCA is not modelled)"),
    }
)

AARCH64 = ArchProfile(
    arch="aarch64",
    aliases=("arm64",),
    default_machine="virt",
    machine_families=("virt",),
    features=(),
    uefi_features=("acpi",),  # libvirt accepts ACPI on aarch64 only with UEFI firmware
    unsupported_features=X86_ONLY + POWER_ONLY,
    disk_bus="virtio",
    disk_buses=("virtio", "scsi", "usb", "sata"),
    cdrom_bus="scsi",
    cdrom_buses=("scsi", "usb", "sata"),
    nic_models=("virtio", "virtio-transitional", "virtio-non-transitional", "e1000e"),
    address_type="pci",
    virtio_address_types=("pci", "virtio-mmio"),
    usb_controller_model=None,
    # libvirt adds no USB controller to an aarch64 virt guest, so a USB tablet is refused
    # ("USB is disabled for this domain"); a virtio tablet needs no USB.
    tablet_bus="virtio",
    watchdog_model="i6300esb",
    watchdog_models=("i6300esb",),
    panic_model=None,
    panic_models=("pvpanic",),
    video_model="virtio",
    video_models=("virtio", "ramfb", "none"),
    graphics_types=("vnc",),
    sound=True,
    # libvirt has no usable host-model for Arm; under TCG cortex-a57 boots generic kernels.
    kvm_cpu_modes=("host-passthrough",),
    tcg_cpu_models=("cortex-a57", "max"),
    cpu_compat=_CPU_COMPAT,
    uefi_loaders=(
        "/usr/share/AAVMF/AAVMF_CODE.fd",
        "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
        "/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw",
    ),
    fc_transport="scsi-scan",
    console_forms=MappingProxyType({"console": 0, "serial": 0}),
    console_layout=_layout,
    default_console_target="serial",
    default_serial_target="system-serial",
    serial_targets=("system-serial", "pci-serial"),
    console_targets=("serial", "virtio"),
    early_console_targets=("system-serial", "serial"),
    support=_SUPPORT,
    nova_driver="libvirt-kvm-aarch64",
    test_image=TestImageRecipe(
        "arm64", "linux-image-cloud-arm64", ("virtio_pci", *VIRTIO_GUEST_MODULES)
    ),
)
