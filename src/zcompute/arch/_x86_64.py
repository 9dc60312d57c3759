"""x86_64: every rule zcompute has for x86_64 guests (PC machines, ACPI, ISA serial)."""

from __future__ import annotations

from types import MappingProxyType

from zcompute.arch._cpucompat import CpuCompat
from zcompute.arch._featuresets import ARM_ONLY, POWER_ONLY
from zcompute.arch._profile import ArchProfile, ConsoleLayout, ConsoleSpec
from zcompute.arch._support import Claim, Status
from zcompute.arch._testimage import VIRTIO_GUEST_MODULES, TestImageRecipe

COMPLETE, PARTIAL, MISSING = Status.COMPLETE, Status.PARTIAL, Status.MISSING

__all__ = ["X86_64"]


def _layout(log_path: str, form: str, virtlogd: bool) -> ConsoleLayout:
    """One ISA serial port for both roles where virtlogd keeps the pty's log, else two ports.

    Without virtlogd the log is a file on ttyS0, named last on the kernel command line so it is
    also /dev/console, and the interactive pty is ttyS1. ``form`` only matters on IBM Z.
    """
    del form
    if virtlogd:
        pty = ConsoleSpec(
            "serial", "pty", "isa-serial", "interactive", "isa-serial",
            log_file=log_path, log_append=True, port=0,
        )  # fmt: skip
        return ConsoleLayout((pty,), ("console=ttyS0",), "/dev/ttyS0")
    specs = (
        ConsoleSpec("serial", "file", "isa-serial", "log", "isa-serial", path=log_path, port=0),
        ConsoleSpec("serial", "pty", "isa-serial", "interactive", "isa-serial", port=1),
    )
    return ConsoleLayout(specs, ("console=ttyS1", "console=ttyS0"), "/dev/ttyS1")


# x86 CPU models have no order zcompute could trust (vendors, microcode, feature flags), so a
# guest's named model (host-model: the source host's, as libvirt expands it) must be one the
# destination offers: its domain capabilities list it usable, or (without them) it is the
# destination's own CPU model. The features host-model adds to the model are libvirt's to
# check when the guest arrives (it refuses a host CPU without them, before anything moves).
_CPU_COMPAT = CpuCompat(
    baselines="any",
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
        "console-log": Claim(COMPLETE, "serial pty with a virtlogd log, else a file serial"),
        "interactive-console": Claim(COMPLETE, "ISA serial port"),
        "vnc": Claim(COMPLETE, "optional; adds a VGA adapter and a USB tablet"),
        "spice": Claim(COMPLETE, "needs a QEMU built with SPICE"),
        "inject-networking": Claim(PARTIAL, "file injection into Debian-style guests only"),
        "attach-volume": Claim(COMPLETE),
        "attach-volume-fc": Claim(COMPLETE, "PCI HBA; pci-...-fc-... by-path names"),
        "attach-volume-iscsi": Claim(COMPLETE),
        "attach-interface": Claim(COMPLETE),
        "swap-volume": Claim(COMPLETE, "onto a file, block device, FC LUN or iSCSI LUN"),
        "device-tags": Claim(COMPLETE, "PCI addresses"),
        "trigger-crash-dump": Claim(COMPLETE, "NMI"),
        "watchdog": Claim(COMPLETE, "i6300esb"),
        "config-drive": Claim(COMPLETE, "a read-only virtio-blk disk"),
        "guest-agent": Claim(COMPLETE),
        "disk-rate-limit": Claim(COMPLETE),
        "file-backed-memory": Claim(COMPLETE),
        "boot-from-volume": Claim(COMPLETE),
        "live-migration": Claim(
            COMPLETE,
            "a KVM guest only to a host offering its CPU model (cpu_baseline_model pins one "
            "for a mixed fleet)",
        ),
        "resize": Claim(COMPLETE),
        "secure-execution": Claim(MISSING, "IBM Z only (AMD SEV / Intel TDX are not modelled)"),
    }
)

X86_64 = ArchProfile(
    arch="x86_64",
    aliases=("amd64", "x64"),
    default_machine="pc",
    machine_families=("pc", "q35"),
    features=("acpi", "apic"),
    unsupported_features=POWER_ONLY + ARM_ONLY,
    timers=("rtc", "pit", "hpet", "kvmclock", "tsc", "hypervclock", "platform"),
    disk_bus="virtio",
    disk_buses=("virtio", "scsi", "sata", "ide", "usb", "fdc"),
    cdrom_bus="sata",
    cdrom_buses=("sata", "ide", "scsi", "usb"),
    nic_model="virtio",
    nic_models=(
        "virtio",
        "virtio-transitional",
        "virtio-non-transitional",
        "e1000",
        "e1000e",
        "rtl8139",
        "vmxnet3",
        "ne2k_pci",
        "pcnet",
    ),
    address_type="pci",
    virtio_address_types=("pci",),
    usb_controller_model=None,  # libvirt's default USB controller for the machine
    tablet_bus="usb",
    watchdog_model="i6300esb",
    watchdog_models=("i6300esb", "ib700", "itco"),
    panic_model=None,  # optional on x86; libvirt picks isa/pvpanic when asked
    panic_models=("isa", "pvpanic", "hyperv"),
    video_model="vga",
    video_models=("vga", "cirrus", "qxl", "virtio", "bochs", "vmvga", "ramfb", "none"),
    graphics_types=("vnc", "spice"),
    sound=True,
    kvm_cpu_modes=("host-model", "host-passthrough"),
    tcg_cpu_models=("qemu64", "max"),
    cpu_compat=_CPU_COMPAT,
    uefi_loaders=("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_CODE.fd"),
    fc_transport="scsi-scan",
    console_forms=MappingProxyType({"console": 0, "serial": 0}),
    console_layout=_layout,
    default_console_target="serial",
    default_serial_target="isa-serial",
    serial_targets=("isa-serial", "pci-serial", "usb-serial", "isa-debug"),
    console_targets=("serial", "virtio"),
    early_console_targets=("isa-serial", "serial"),
    support=_SUPPORT,
    nova_driver="libvirt-kvm-x86",
    # button + evdev: the ACPI power button as an input device, for busybox acpid (shutdown);
    # the cloud kernel's bzImage is LZ4-compressed, so the test guest boots its vmlinux (PVH)
    test_image=TestImageRecipe(
        "amd64",
        "linux-image-cloud-amd64",
        ("virtio_pci", *VIRTIO_GUEST_MODULES, "button", "evdev"),
        lz4_vmlinux=True,
        cloud_image=True,
    ),
)
