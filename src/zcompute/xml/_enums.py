"""Closed value sets of libvirt's domain schema, as Literal types and converters.

Each set is written once, as a ``Literal``; the converter takes its values from the
type, so mypy and the runtime check agree. Values are those of libvirt's RelaxNG
schema (``domaincommon.rng``); a few newer ones are marked where they appear.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from zcompute.xml._convert import Choice


def choice(literal: Any) -> Choice[Any]:
    """A converter accepting exactly the values of a ``Literal`` type."""
    return Choice(get_args(literal))


DomainType = Literal[
    "qemu", "kqemu", "kvm", "xen", "lxc", "uml", "openvz", "test",
    "vmware", "hyperv", "vbox", "phyp", "vz", "bhyve", "hvf",
]  # fmt: skip
LifecycleAction = Literal["destroy", "restart", "preserve", "rename-restart"]
CrashAction = Literal[
    "destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart"
]
VcpuPlacement = Literal["static", "auto"]

# <os>
OsType = Literal["hvm", "xen", "linux", "xenpvh", "exe"]
OsFirmware = Literal["bios", "efi"]
BootDevice = Literal["fd", "hd", "cdrom", "network"]
LoaderType = Literal["rom", "pflash"]

# <cpu>
CpuMode = Literal["custom", "host-model", "host-passthrough", "maximum"]
CpuMatch = Literal["minimum", "exact", "strict"]
CpuCheck = Literal["none", "partial", "full"]
CpuFallback = Literal["allow", "forbid"]
CpuFeaturePolicy = Literal["force", "require", "optional", "disable", "forbid"]

# <clock>
ClockOffset = Literal["localtime", "utc", "timezone", "variable", "absolute"]
TimerName = Literal[
    "platform", "rtc", "tsc", "hpet", "pit", "armvtimer", "kvmclock", "hypervclock"
]  # fmt: skip
TimerTickPolicy = Literal["delay", "catchup", "merge", "discard"]
TimerTrack = Literal["boot", "guest", "wall", "realtime"]

# <launchSecurity>, <keywrap>
LaunchSecurityType = Literal["sev", "s390-pv"]

# <memoryBacking>
MemorySourceType = Literal["file", "anonymous", "memfd"]
MemoryAccessMode = Literal["shared", "private"]
MemoryAllocationMode = Literal["immediate", "ondemand"]
KeyWrapCipher = Literal["aes", "dea"]

# <disk>
DiskType = Literal["file", "block", "dir", "network", "volume", "nvme", "vhostuser"]
DiskDevice = Literal["floppy", "disk", "cdrom", "lun"]
DiskBus = Literal["ide", "fdc", "scsi", "virtio", "xen", "usb", "uml", "sata", "sd"]
DiskCache = Literal["default", "none", "writeback", "writethrough", "directsync", "unsafe"]
DiskIO = Literal["threads", "native", "io_uring"]
DiskDiscard = Literal["unmap", "ignore"]
# libvirt secret usages a disk refers to: CHAP (iscsi), Ceph; LUKS passphrases (volume)
DiskAuthSecret = Literal["iscsi", "ceph"]
EncryptionFormat = Literal["default", "qcow", "luks", "luks2", "luks-any"]
EncryptionEngine = Literal["qemu", "librbd"]
SecretUsage = Literal["none", "volume", "ceph", "iscsi", "tls", "vtpm"]
DiskProtocol = Literal[
    "nbd", "rbd", "sheepdog", "gluster", "iscsi", "http", "https",
    "ftp", "ftps", "tftp", "vxhs", "nfs",
]  # fmt: skip

# <controller>
ControllerType = Literal[
    "ide", "fdc", "scsi", "sata", "usb", "ccid", "virtio-serial", "xenbus", "pci", "isa"
]  # fmt: skip

# <interface>
InterfaceType = Literal[
    "ethernet", "vhostuser", "user", "network", "bridge", "direct", "hostdev",
    "mcast", "server", "client", "udp", "vdpa", "null", "vds",
]  # fmt: skip
DirectMode = Literal["vepa", "bridge", "private", "passthrough"]
LinkState = Literal["up", "down"]

# character devices
CharType = Literal[
    "dev", "file", "pipe", "unix", "tcp", "udp", "null", "stdio", "vc", "pty",
    "spicevmc", "spiceport", "nmdm", "qemu-vdagent", "dbus",
]  # fmt: skip
CharSourceMode = Literal["bind", "connect"]
CharProtocol = Literal["raw", "telnet", "telnets", "tls"]
ConsoleTarget = Literal["xen", "serial", "uml", "virtio", "lxc", "openvz", "sclp", "sclplm"]
SerialTarget = Literal[
    "isa-serial", "usb-serial", "pci-serial", "spapr-vio-serial",
    "system-serial", "sclp-serial", "isa-debug",
]  # fmt: skip
SerialTargetModel = Literal[
    "isa-serial", "usb-serial", "pci-serial", "spapr-vty", "pl011",
    "16550a", "sclpconsole", "sclplmconsole", "isa-debugcon",
]  # fmt: skip
ChannelTarget = Literal["virtio", "guestfwd", "xen"]
ChannelState = Literal["connected", "disconnected"]

# other devices
InputType = Literal["tablet", "mouse", "keyboard", "passthrough", "evdev"]
InputBus = Literal["ps2", "usb", "xen", "virtio"]
GraphicsType = Literal["sdl", "vnc", "spice", "rdp", "desktop", "egl-headless", "dbus"]
GraphicsListen = Literal["address", "network", "socket", "none"]
VideoModel = Literal[
    "vga", "cirrus", "vmvga", "xen", "vbox", "virtio", "gop", "none", "bochs", "ramfb", "qxl"
]  # fmt: skip
MemBalloonModel = Literal["virtio", "virtio-transitional", "virtio-non-transitional", "xen", "none"]
RngModel = Literal["virtio", "virtio-transitional", "virtio-non-transitional"]
RngBackend = Literal["random", "egd", "builtin"]
# itco is accepted by libvirt 9.2 and later (the installed 9.0 schema predates it)
WatchdogModel = Literal["i6300esb", "ib700", "diag288", "itco"]
WatchdogAction = Literal["reset", "shutdown", "poweroff", "pause", "none", "dump", "inject-nmi"]
# pvpanic is accepted by libvirt 9.1 and later
PanicModel = Literal["isa", "pseries", "hyperv", "s390", "pvpanic"]

# <hostdev>
HostdevMode = Literal["subsystem", "capabilities"]
HostdevType = Literal["usb", "pci", "scsi", "scsi_host", "mdev", "storage", "misc", "net"]
MdevModel = Literal["vfio-pci", "vfio-ccw", "vfio-ap"]
HostdevDriver = Literal["kvm", "vfio", "xen"]

# <address>
AddressType = Literal[
    "pci", "drive", "virtio-serial", "ccid", "usb", "spapr-vio", "ccw",
    "isa", "virtio-mmio", "dimm", "unassigned",
]  # fmt: skip
