"""IBM Z (s390x): every rule zcompute has for s390x guests.

Where Nova goes wrong on s390x, this profile does not: no ``<acpi/>``/``<apic/>`` (newer libvirt
rejects ACPI for s390-ccw-virtio), the watchdog is ``diag288`` (not the PCI i6300esb), and a
host whose capabilities carry no CPU model gets one from ``/proc/cpuinfo``.
"""

from __future__ import annotations

from types import MappingProxyType

from zcompute.arch._featuresets import ACPI, ARM_ONLY, POWER_ONLY, X86_ONLY
from zcompute.arch._profile import ArchProfile, ConsoleLayout, ConsoleSpec
from zcompute.arch._support import Claim, Status
from zcompute.arch._testimage import VIRTIO_GUEST_MODULES, TestImageRecipe

COMPLETE, PARTIAL, MISSING = Status.COMPLETE, Status.PARTIAL, Status.MISSING

__all__ = ["S390X"]

# Linux on Z: ttysclp0 is the VT220 SCLP console (sclp / sclpconsole), ttyS0 the line-mode one
# (sclplm / sclplmconsole, device node /dev/sclp_line0). Every console= gets the kernel log and
# the last one becomes /dev/console, so the log file (line mode) is named last.
_KERNEL_ARGS = ("console=ttysclp0", "console=ttyS0")
_INTERACTIVE_DEVICE = "/dev/ttysclp0"


def _layout(log_path: str, form: str, virtlogd: bool) -> ConsoleLayout:
    """Interactive VT220 pty plus line-mode log file, in either of libvirt's two spellings.

    ``virtlogd`` does not change anything here: the line-mode console already writes the
    kernel log to a file, which is what the blueprint asks for.
    """
    del virtlogd
    if form == "serial":  # libvirt 3.10+: <serial> with target sclp-serial and a model name
        specs = (
            ConsoleSpec("serial", "pty", "sclp-serial", "interactive", "sclpconsole", port=0),
            ConsoleSpec(
                "serial", "file", "sclp-serial", "log", "sclplmconsole", path=log_path, port=1
            ),
        )
    else:  # the blueprint's form: <console> with target sclp / sclplm
        specs = (
            ConsoleSpec("console", "pty", "sclp", "interactive"),
            ConsoleSpec("console", "file", "sclplm", "log", path=log_path),
        )
    return ConsoleLayout(specs, _KERNEL_ARGS, _INTERACTIVE_DEVICE)


_SUPPORT = MappingProxyType(
    {
        "launch": Claim(COMPLETE),
        "terminate": Claim(COMPLETE),
        "get-guest-info": Claim(COMPLETE),
        "reboot": Claim(COMPLETE),
        "power-off-on": Claim(
            COMPLETE,
            "graceful shutdown is an SCLP signal quiesce: Linux calls ctrl_alt_del(); init gets "
            "SIGINT with kernel.ctrl-alt-del=0 (systemd's setting), else the guest just stops",
        ),
        "pause": Claim(COMPLETE),
        "suspend": Claim(COMPLETE, "managed save"),
        "snapshot": Claim(COMPLETE),
        "rescue": Claim(COMPLETE),
        "console-log": Claim(COMPLETE, "SCLP line-mode console (sclplm) written to a file"),
        "interactive-console": Claim(COMPLETE, "SCLP VT220 console (sclp), /dev/ttysclp0"),
        "vnc": Claim(MISSING, "IBM Z guests have no graphics adapter; use the SCLP console"),
        "spice": Claim(MISSING, "IBM Z guests have no graphics adapter; use the SCLP console"),
        "inject-networking": Claim(MISSING, "not part of the s390x blueprint"),
        "attach-volume": Claim(COMPLETE, "virtio-blk on the ccw bus"),
        "attach-volume-fc": Claim(COMPLETE, "zFCP; ccw-DEVNO-... by-path names"),
        "attach-volume-iscsi": Claim(COMPLETE, "QEMU's iSCSI client; virtio-blk on the ccw bus"),
        "attach-interface": Claim(COMPLETE, "virtio-net on the ccw bus"),
        "swap-volume": Claim(
            PARTIAL,
            "onto a local or host-connected volume; not onto a LUN zcompute would connect",
        ),
        "device-tags": Claim(COMPLETE, "CCW bus ids (0.0.xxxx) of virtio-ccw devices"),
        "trigger-crash-dump": Claim(
            COMPLETE,
            "the NMI is a restart interrupt: kdump if configured, else the guest stops (crashed)",
        ),
        "watchdog": Claim(COMPLETE, "diag288"),
        "config-drive": Claim(
            COMPLETE, "a read-only virtio-blk disk: s390x has no IDE or SATA CD-ROM"
        ),
        "guest-agent": Claim(COMPLETE, "virtio-serial channel on the CCW bus"),
        "disk-rate-limit": Claim(COMPLETE),
        "file-backed-memory": Claim(COMPLETE, "a shared memory-backend-file"),
        "boot-from-volume": Claim(
            COMPLETE, "IPL from the virtio-blk-ccw root volume (or its kernel); FC via zFCP"
        ),
        "live-migration": Claim(COMPLETE, "not for Secure Execution guests"),
        "resize": Claim(COMPLETE, "vCPUs and memory as the new flavor; virtio-blk disks grow"),
        "secure-execution": Claim(
            PARTIAL,
            "needs an SE-prepared image and a host with prot_virt=1; no memballoon, no migration",
        ),
    }
)

S390X = ArchProfile(
    arch="s390x",
    default_machine="s390-ccw-virtio",
    # "s390-ccw" covers s390-ccw-virtio-* and distro variants such as s390-ccw-kvmibm-*;
    # the old "s390-virtio" machine some hosts still list is unusable.
    machine_families=("s390-ccw-virtio", "s390-ccw"),
    features=(),
    unsupported_features=ACPI + X86_ONLY + POWER_ONLY + ARM_ONLY,
    timers=(),
    disk_bus="virtio",
    disk_buses=("virtio", "scsi"),
    cdrom_bus="scsi",  # CD-ROMs go on virtio-scsi; virtio-blk cannot be a CD-ROM
    cdrom_buses=("scsi",),
    nic_model="virtio",
    nic_models=("virtio", "virtio-transitional", "virtio-non-transitional"),
    address_type="ccw",
    virtio_address_types=("ccw",),
    usb_controller_model="none",
    tablet_bus=None,
    watchdog_model="diag288",
    watchdog_models=("diag288",),
    panic_model="s390",
    panic_models=("s390",),
    video_model=None,
    video_models=("none",),
    graphics_types=(),
    sound=False,
    launch_security="s390-pv",
    secure_memballoon="none",
    supports_loadparm=True,
    kvm_cpu_modes=("host-model", "host-passthrough"),
    tcg_cpu_models=("qemu", "max"),
    cpu_model_from_cpuinfo=True,
    fc_transport="zfcp",
    console_forms=MappingProxyType({"console": 0, "serial": 3_010_000}),
    console_layout=_layout,
    default_console_target="sclp",
    default_serial_target="sclp-serial",
    serial_targets=("sclp-serial",),
    console_targets=("sclp", "sclplm", "virtio", "serial"),
    early_console_targets=("sclp", "sclplm", "sclp-serial"),
    support=_SUPPORT,
    nova_driver="libvirt-kvm-s390x",
    # diag288_wdt: the watchdog's driver, so the test guest can arm (and fire) it
    test_image=TestImageRecipe(
        "s390x", "linux-image-s390x", (*VIRTIO_GUEST_MODULES, "diag288_wdt"), cloud_image=True
    ),
)
