"""Domain pieces outside ``<devices>``: os, cpu, features, clock, launchSecurity, keywrap."""

from __future__ import annotations

from zcompute.xml._children import ChildList
from zcompute.xml._convert import ONOFF, UINT, YESNO, Hex, Int
from zcompute.xml._enums import (
    BootDevice,
    ClockOffset,
    CpuCheck,
    CpuFallback,
    CpuFeaturePolicy,
    CpuMatch,
    CpuMode,
    KeyWrapCipher,
    LaunchSecurityType,
    LoaderType,
    MemoryAccessMode,
    MemoryAllocationMode,
    MemorySourceType,
    OsFirmware,
    OsType,
    TimerName,
    TimerTickPolicy,
    TimerTrack,
    choice,
)
from zcompute.xml._fields import Attr, AttrList, Flag, Text
from zcompute.xml._object import XMLObject

__all__ = [
    "Cipher",
    "Clock",
    "Cpu",
    "CpuFeature",
    "Features",
    "KeyWrap",
    "LaunchSecurity",
    "MemoryBacking",
    "Os",
    "Timer",
]


class Os(XMLObject):
    """``<os>``: guest type, arch and machine, firmware, direct kernel boot, boot order."""

    __slots__ = ()
    TAG = "os"
    ORDER = (
        "type", "firmware", "loader", "nvram", "kernel", "initrd", "cmdline", "dtb",
        "acpi", "boot", "bootmenu", "smbios", "bios",
    )  # fmt: skip

    type: Text[OsType] = Text("type", choice(OsType))
    arch: Attr[str] = Attr("type/@arch")
    machine: Attr[str] = Attr("type/@machine")
    firmware: Attr[OsFirmware] = Attr("@firmware", choice(OsFirmware))
    loader: Text[str] = Text("loader")
    loader_readonly: Attr[bool] = Attr("loader/@readonly", YESNO)
    loader_type: Attr[LoaderType] = Attr("loader/@type", choice(LoaderType))
    loader_secure: Attr[bool] = Attr("loader/@secure", YESNO)
    nvram: Text[str] = Text("nvram")
    nvram_template: Attr[str] = Attr("nvram/@template")
    kernel: Text[str] = Text("kernel")
    initrd: Text[str] = Text("initrd")
    cmdline: Text[str] = Text("cmdline")
    dtb: Text[str] = Text("dtb")
    boot_devs: AttrList[BootDevice] = AttrList("boot/@dev", choice(BootDevice))
    bootmenu: Attr[bool] = Attr("bootmenu/@enable", YESNO)


class CpuFeature(XMLObject):
    """``<cpu><feature policy name/>``."""

    __slots__ = ()
    TAG = "feature"

    policy: Attr[CpuFeaturePolicy] = Attr("@policy", choice(CpuFeaturePolicy))
    name: Attr[str] = Attr("@name")


class Cpu(XMLObject):
    """``<cpu>``: mode, model with fallback, vendor, topology and feature policies."""

    __slots__ = ()
    TAG = "cpu"
    ORDER = ("model", "vendor", "topology", "cache", "maxphysaddr", "feature", "numa")

    mode: Attr[CpuMode] = Attr("@mode", choice(CpuMode))
    match: Attr[CpuMatch] = Attr("@match", choice(CpuMatch))
    check: Attr[CpuCheck] = Attr("@check", choice(CpuCheck))
    migratable: Attr[bool] = Attr("@migratable", ONOFF)
    model: Text[str] = Text("model")
    model_fallback: Attr[CpuFallback] = Attr("model/@fallback", choice(CpuFallback))
    vendor: Text[str] = Text("vendor")
    sockets: Attr[int] = Attr("topology/@sockets", Int(1))
    dies: Attr[int] = Attr("topology/@dies", Int(1))
    cores: Attr[int] = Attr("topology/@cores", Int(1))
    threads: Attr[int] = Attr("topology/@threads", Int(1))
    features: ChildList[CpuFeature] = ChildList(CpuFeature)

    def feature(self, name: str) -> CpuFeature | None:
        """The feature element called ``name``, if the CPU lists it."""
        return next((f for f in self.features if f.name == name), None)

    def set_feature(self, name: str, policy: CpuFeaturePolicy) -> CpuFeature:
        """Set the policy of ``name``, adding the feature if it is not listed yet."""
        existing = self.feature(name)
        if existing is not None:
            existing.policy = policy
            return existing
        feature = CpuFeature(policy=policy, name=name)
        type(self).features.add(self, feature)
        return feature

    def remove_feature(self, name: str) -> None:
        """Drop ``name`` from the list (no error if it is not there)."""
        self.features = [f for f in self.features if f.name != name]


class Features(XMLObject):
    """``<features>``: hypervisor features; unmodelled ones (hyperv, kvm, ...) are kept."""

    __slots__ = ()
    TAG = "features"
    ORDER = (
        "acpi", "apic", "pae", "hap", "viridian", "privnet", "hyperv", "kvm", "pvspinlock",
        "capabilities", "pmu", "vmport", "gic", "smm", "ioapic", "hpt", "vmcoreinfo", "htm",
        "nested-hv", "msrs", "ccf-assist", "xen", "cfpc", "sbbc", "ibs", "tcg",
    )  # fmt: skip

    acpi: Flag = Flag("acpi")
    apic: Flag = Flag("apic")
    pae: Flag = Flag("pae")
    hap: Flag = Flag("hap")
    viridian: Flag = Flag("viridian")
    privnet: Flag = Flag("privnet")
    vmcoreinfo: Flag = Flag("vmcoreinfo")
    pmu: Attr[bool] = Attr("pmu/@state", ONOFF)
    vmport: Attr[bool] = Attr("vmport/@state", ONOFF)
    smm: Attr[bool] = Attr("smm/@state", ONOFF)
    htm: Attr[bool] = Attr("htm/@state", ONOFF)
    # ARM GIC version: 2, 3 or host
    gic_version: Attr[str] = Attr("gic/@version")
    ioapic_driver: Attr[str] = Attr("ioapic/@driver")


class MemoryBacking(XMLObject):
    """``<memoryBacking>``: where guest RAM comes from (anonymous, a file, memfd) and how it is
    mapped; file-backed memory lives in QEMU's ``memory_backing_dir`` (qemu.conf)."""

    __slots__ = ()
    TAG = "memoryBacking"
    ORDER = ("hugepages", "nosharepages", "locked", "source", "access", "allocation", "discard")

    source_type: Attr[MemorySourceType] = Attr("source/@type", choice(MemorySourceType))
    access_mode: Attr[MemoryAccessMode] = Attr("access/@mode", choice(MemoryAccessMode))
    allocation_mode: Attr[MemoryAllocationMode] = Attr(
        "allocation/@mode", choice(MemoryAllocationMode)
    )
    discard: Flag = Flag("discard")


class Timer(XMLObject):
    """``<clock><timer>``."""

    __slots__ = ()
    TAG = "timer"

    name: Attr[TimerName] = Attr("@name", choice(TimerName))
    present: Attr[bool] = Attr("@present", YESNO)
    tickpolicy: Attr[TimerTickPolicy] = Attr("@tickpolicy", choice(TimerTickPolicy))
    track: Attr[TimerTrack] = Attr("@track", choice(TimerTrack))


class Clock(XMLObject):
    """``<clock>``: offset and timers."""

    __slots__ = ()
    TAG = "clock"
    ORDER = ("timer",)

    offset: Attr[ClockOffset] = Attr("@offset", choice(ClockOffset))
    timezone: Attr[str] = Attr("@timezone")
    adjustment: Attr[str] = Attr("@adjustment")
    basis: Attr[str] = Attr("@basis")
    timers: ChildList[Timer] = ChildList(Timer)


class LaunchSecurity(XMLObject):
    """``<launchSecurity>``: AMD SEV (with its policy) or s390x Secure Execution (s390-pv)."""

    __slots__ = ()
    TAG = "launchSecurity"
    ORDER = ("cbitpos", "reducedPhysBits", "policy", "handle", "dhCert", "session")

    type: Attr[LaunchSecurityType] = Attr("@type", choice(LaunchSecurityType))
    kernel_hashes: Attr[bool] = Attr("@kernelHashes", YESNO)
    cbitpos: Text[int] = Text("cbitpos", UINT)
    reduced_phys_bits: Text[int] = Text("reducedPhysBits", UINT)
    policy: Text[int] = Text("policy", Hex(0, 0xFFFF_FFFF, 4))
    dh_cert: Text[str] = Text("dhCert")
    session: Text[str] = Text("session")


class Cipher(XMLObject):
    """``<keywrap><cipher name state/>``."""

    __slots__ = ()
    TAG = "cipher"

    name: Attr[KeyWrapCipher] = Attr("@name", choice(KeyWrapCipher))
    state: Attr[bool] = Attr("@state", ONOFF)


class KeyWrap(XMLObject):
    """``<keywrap>``: s390x CPACF key wrapping, per cipher (aes, dea) on or off."""

    __slots__ = ()
    TAG = "keywrap"

    ciphers: ChildList[Cipher] = ChildList(Cipher)
    aes: Attr[bool] = Attr("cipher[@name='aes']/@state", ONOFF)
    dea: Attr[bool] = Attr("cipher[@name='dea']/@state", ONOFF)
