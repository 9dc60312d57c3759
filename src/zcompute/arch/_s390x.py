"""IBM Z (s390x): every rule zcompute has for s390x guests.

Where Nova goes wrong on s390x, this profile does not: no ``<acpi/>``/``<apic/>`` (newer libvirt
rejects ACPI for s390-ccw-virtio), the watchdog is ``diag288`` (not the PCI i6300esb), and a
host whose capabilities carry no CPU model gets one from ``/proc/cpuinfo``.
"""

from __future__ import annotations

from types import MappingProxyType

from zcompute.arch._cpucompat import CpuCatalog, CpuCompat, CpuGeneration
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


# QEMU's IBM Z CPU models in release order (target/s390x/cpu_models.c: name, generation, GA
# level). A newer generation runs the models of older ones; the machine (its /proc/cpuinfo
# machine type) is the hardware of its generation (8561 -> z15 -> gen15a, facts file).
_GENERATION_NAMES = MappingProxyType(
    {7: "z900", 8: "z990", 9: "z9", 10: "z10", 11: "z196", 12: "zEC12", 13: "z13", 14: "z14",
     15: "z15", 16: "z16", 17: "z17"}
)  # fmt: skip
_QEMU_MODELS = (
    ("z900", 7, 1), ("z900.2", 7, 2), ("z900.3", 7, 3), ("z800", 7, 3),
    ("z990", 8, 1), ("z990.2", 8, 2), ("z990.3", 8, 3), ("z890", 8, 3), ("z990.4", 8, 4),
    ("z890.2", 8, 4), ("z990.5", 8, 5), ("z890.3", 8, 5),
    ("z9EC", 9, 1), ("z9EC.2", 9, 2), ("z9BC", 9, 2), ("z9EC.3", 9, 3), ("z9BC.2", 9, 3),
    ("z10EC", 10, 1), ("z10EC.2", 10, 2), ("z10BC", 10, 2), ("z10EC.3", 10, 3), ("z10BC.2", 10, 3),
    ("z196", 11, 1), ("z196.2", 11, 2), ("z114", 11, 2),
    ("zEC12", 12, 1), ("zEC12.2", 12, 2), ("zBC12", 12, 2),
    ("z13", 13, 1), ("z13.2", 13, 2), ("z13s", 13, 2),
    ("z14", 14, 1), ("z14.2", 14, 2), ("z14ZR1", 14, 1),
    ("gen15a", 15, 1), ("gen15b", 15, 1),
    ("gen16a", 16, 1), ("gen16b", 16, 1),
    ("gen17a", 17, 1), ("gen17b", 17, 1),
)  # fmt: skip
_CPU_CATALOG = CpuCatalog(
    models=tuple(CpuGeneration(n, g, ga, _GENERATION_NAMES[g]) for n, g, ga in _QEMU_MODELS),
    # From z15 on QEMU names models genNNa/b; operators say z15, z16, z17 (the flagship model).
    aliases=MappingProxyType({"z15": "gen15a", "z16": "gen16a", "z17": "gen17a"}),
    # QEMU registers NAME and NAME-base (the static model); "-full" names only a feature set.
    variants=("-base",),
    tolerated=("-full",),
)
# A KVM guest moves only to a host whose generation is its CPU model's or newer (host-model: the
# model of the host it started on, as libvirt expands it in the live XML), host-passthrough only
# to the same model; cpu_baseline_model (e.g. z14) pins an older model for a mixed fleet. Within
# one generation (GA levels, gen16a/gen16b) QEMU on the destination makes the final check.
_CPU_COMPAT = CpuCompat(
    baselines="catalog",
    catalog=_CPU_CATALOG,
)

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
            COMPLETE,
            "onto a file, block device, zFCP LUN or iSCSI LUN; virtio-blk on the ccw bus",
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
        "live-migration": Claim(
            COMPLETE,
            "not for Secure Execution guests; a KVM guest only to a host of its CPU model's "
            "generation or newer (cpu_baseline_model pins an older model for a mixed fleet)",
        ),
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
    cpu_compat=_CPU_COMPAT,
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
