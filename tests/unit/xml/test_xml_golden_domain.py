"""Golden tests of the domain-level pieces: build or parse, check typed values, edit, compare.

Every case's output is ``golden/<name>-out.xml``; test_xml_libvirt.py validates each of
those files against libvirt's schema and defines it on test:///default.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from tests.unit.xml.xml_support import assert_golden, golden_in, typed_view

from zcompute.xml import (
    RNG,
    ZCOMPUTE_NS,
    Address,
    Cipher,
    Clock,
    Console,
    Cpu,
    CpuFeature,
    Devices,
    Disk,
    Domain,
    Features,
    Interface,
    KeyWrap,
    LaunchSecurity,
    MemBalloon,
    MemoryBacking,
    Os,
    Panic,
    Serial,
    Timer,
    Watchdog,
)

CASES: dict[str, Callable[[], Domain]] = {}


def case(fn: Callable[[], Domain]) -> Callable[[], Domain]:
    CASES[fn.__name__.removeprefix("golden_").replace("_", "-")] = fn
    return fn


@case
def golden_s390x_guest() -> Domain:
    """An s390x guest as zcompute would spawn it, built from nothing."""
    dom = Domain(
        type="kvm",
        name="guest-s390x",
        uuid="0b4d8c1e-59a5-4c4e-a0f8-2ad35f0f6a10",
        memory_kib=524288,
        current_memory_kib=524288,
        vcpu=2,
        os=Os(type="hvm", arch="s390x", machine="s390-ccw-virtio"),
        cpu=Cpu(mode="host-model"),
        clock=Clock(offset="utc"),
        on_poweroff="destroy",
        on_reboot="restart",
        on_crash="destroy",
        devices=Devices(emulator="/usr/bin/qemu-system-s390x"),
        keywrap=KeyWrap(aes=True, dea=True),
    )
    meta = dom.zcompute
    meta.instance_id = "0b4d8c1e-59a5-4c4e-a0f8-2ad35f0f6a10"
    meta.name = "web-1"
    meta.flavor = "m1.small"
    meta.image = "debian-12-s390x"
    meta.owner = "alice"
    meta.arch = "s390x"
    meta.machine = "s390-ccw-virtio-7.2"
    meta.created = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
    devices = dom.devices
    for devno, (name, fmt) in enumerate([("disk", "qcow2"), ("disk.config", "raw")]):
        devices.add(
            Disk(
                type="file",
                device="disk",
                driver_name="qemu",
                driver_type=fmt,
                driver_cache="none",
                source_file=f"/var/lib/zcompute/instances/0b4d/{name}",
                target_dev=f"vd{'ab'[devno]}",
                target_bus="virtio",
                address=Address.ccw(0xFE, 0, devno),
            )
        )
    devices.disks[0].boot_order = 1
    devices.add(
        Interface(
            type="network",
            mac="52:54:00:12:34:56",
            source_network="default",
            model="virtio",
            address=Address.ccw(0xFE, 0, 2),
        )
    )
    devices.add(Console(type="pty", target_type="sclp"))
    devices.add(
        Console(
            type="file",
            source_path="/var/lib/zcompute/instances/0b4d/console.log",
            target_type="sclplm",
        )
    )
    devices.add(Watchdog(model="diag288", action="poweroff"))
    devices.memballoon = MemBalloon(
        model="virtio", stats_period=10, address=Address.ccw(0xFE, 0, 3)
    )
    devices.add(RNG(model="virtio", backend_model="random", backend_path="/dev/urandom"))
    devices.add(Panic(model="s390"))

    assert dom.os.boot_devs == []  # s390x boots by per-device boot order
    assert [c.target_type for c in devices.consoles] == ["sclp", "sclplm"]
    assert devices.disks[1].address.devno == 1
    assert dom.keywrap.aes is True
    assert meta.created == datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
    return dom


@case
def golden_x86_guest() -> Domain:
    """An x86_64 q35 guest with UEFI firmware and the usual PC devices."""
    dom = Domain(type="kvm", name="guest-x86", uuid="6f1e0b0a-2b8c-4f3e-9b7d-1d2c3e4f5a60")
    dom.memory_kib = 2 * 1024 * 1024
    dom.current_memory_kib = 2 * 1024 * 1024
    dom.vcpu = 4
    dom.vcpu_placement = "static"
    dom.os = Os(
        type="hvm",
        arch="x86_64",
        machine="pc-q35-7.2",
        loader="/usr/share/OVMF/OVMF_CODE_4M.fd",
        loader_readonly=True,
        loader_type="pflash",
        loader_secure=False,
        nvram="/var/lib/zcompute/instances/6f1e/VARS.fd",
        nvram_template="/usr/share/OVMF/OVMF_VARS_4M.fd",
        boot_devs=["hd", "network"],
        bootmenu=True,
    )
    dom.features = Features(acpi=True, apic=True, vmport=False, smm=True)
    dom.cpu = Cpu(mode="host-passthrough", check="none", migratable=True, sockets=1, cores=2)
    dom.cpu.threads = 2
    dom.cpu.dies = 1
    dom.clock = Clock(
        offset="utc",
        timers=[
            Timer(name="rtc", tickpolicy="catchup"),
            Timer(name="pit", tickpolicy="delay"),
            Timer(name="hpet", present=False),
        ],
    )
    dom.on_poweroff = "destroy"
    dom.on_reboot = "restart"
    dom.on_crash = "coredump-restart"
    devices = dom.devices
    devices.emulator = "/usr/bin/qemu-system-x86_64"
    devices.add(
        Disk(
            type="file",
            device="disk",
            driver_name="qemu",
            driver_type="qcow2",
            driver_io="native",
            driver_cache="none",
            driver_discard="unmap",
            source_file="/var/lib/zcompute/instances/6f1e/disk",
            target_dev="vda",
            target_bus="virtio",
        )
    )
    devices.add(
        Disk(
            type="file",
            device="cdrom",
            driver_name="qemu",
            driver_type="raw",
            source_file="/var/lib/zcompute/instances/6f1e/config.iso",
            target_dev="sda",
            target_bus="sata",
            readonly=True,
        )
    )
    devices.add(
        Serial(type="pty", target_type="isa-serial", target_port=0, target_model="isa-serial")
    )
    devices.add(Console(type="pty", target_type="serial", target_port=0))
    devices.add(Watchdog(model="i6300esb", action="reset"))
    devices.add(Panic(model="isa"))

    assert dom.os.loader_readonly is True
    assert dom.os.boot_devs == ["hd", "network"]
    assert dom.cpu.sockets == 1
    assert dom.cpu.threads == 2
    assert [t.name for t in dom.clock.timers] == ["rtc", "pit", "hpet"]
    assert dom.clock.timers[2].present is False
    assert dom.features.acpi
    assert dom.features.smm is True
    assert dom.features.vmport is False
    return dom


@case
def golden_domain_basics() -> Domain:
    """Identity, sizes and lifecycle of a parsed (running) domain, then edits."""
    dom = Domain.from_xml(golden_in("domain-basics"))
    assert dom.type == "kvm"
    assert dom.id == 7
    assert dom.name == "guest-basics"
    assert dom.uuid == "2f3c6a8e-7d9b-4f59-9f0e-0c8b6c2d1a11"
    assert dom.title == "A short title"
    assert dom.description == "Free text\nover two lines"
    assert dom.memory_kib == 2 * 1024 * 1024
    assert dom.current_memory_kib == 1536 * 1024
    assert (dom.vcpu, dom.vcpu_placement, dom.vcpu_current) == (4, "static", 2)
    assert (dom.on_poweroff, dom.on_reboot, dom.on_crash) == ("destroy", "restart", "destroy")
    assert dom.os.machine == "s390-ccw-virtio-7.2"

    dom.id = None  # the same document, as an inactive definition
    dom.title = "Renamed"
    dom.description = None
    dom.memory_kib = 4 * 1024 * 1024
    dom.vcpu_current = None
    dom.vcpu = 8
    dom.on_reboot = "destroy"
    dom.on_crash = "preserve"
    dom.on_poweroff = "rename-restart"
    return dom


@case
def golden_os_direct_kernel() -> Domain:
    """Direct kernel boot (how zcompute boots its s390x test guests)."""
    dom = Domain(type="qemu", name="kernel-boot")
    dom.memory_kib = 131072
    dom.os.type = "hvm"
    dom.os.arch = "s390x"
    dom.os.machine = "s390-ccw-virtio"
    dom.os.kernel = "/var/lib/zcompute/images/vmlinuz"
    dom.os.initrd = "/var/lib/zcompute/images/initrd.img"
    dom.os.cmdline = "console=ttysclp0 console=ttyS0 panic=-1"
    dom.os.boot_devs = ["hd"]
    assert dom.os.kernel == "/var/lib/zcompute/images/vmlinuz"
    dom.os.boot_devs = []  # a kernel boot needs no boot device
    assert dom.os.boot_devs == []
    dom.os.dtb = None
    return dom


@case
def golden_os_firmware() -> Domain:
    """Firmware auto-selection (os firmware='efi') with a boot menu."""
    dom = Domain(type="kvm", name="efi-auto")
    dom.memory_kib = 1048576
    dom.os = Os(firmware="efi", type="hvm", arch="x86_64", machine="q35", bootmenu=False)
    dom.os.boot_devs = ["cdrom", "hd"]
    assert dom.os.firmware == "efi"
    assert dom.os.bootmenu is False
    return dom


@case
def golden_cpu_custom() -> Domain:
    """A custom s390x CPU model: feature policies, fallback, vendor and topology."""
    dom = Domain.from_xml(golden_in("cpu-custom"))
    cpu = dom.cpu
    assert (cpu.mode, cpu.match, cpu.model, cpu.model_fallback) == (
        "custom",
        "exact",
        "zEC12",
        "forbid",
    )
    assert [(f.name, f.policy) for f in cpu.features] == [
        ("dfppc", "require"),
        ("stckf", "disable"),
    ]
    cpu.set_feature("stckf", "require")  # changes in place
    cpu.set_feature("vx", "forbid")  # appended after the others, before <numa>
    cpu.remove_feature("dfppc")
    cpu.features = [*cpu.features, CpuFeature(policy="optional", name="msa5")]
    cpu.model_fallback = "allow"
    cpu.vendor = "IBM"
    cpu.sockets, cpu.cores, cpu.threads = 1, 4, 1
    cpu.check = "partial"
    feature = cpu.feature("vx")
    assert feature is not None
    assert feature.policy == "forbid"
    assert cpu.feature("dfppc") is None
    return dom


@case
def golden_cpu_modes() -> Domain:
    """host-model, then maximum; switching modes drops what the old one needed."""
    dom = Domain(type="kvm", name="cpu-modes")
    dom.memory_kib = 131072
    dom.os.type = "hvm"
    dom.cpu = Cpu(mode="custom", match="exact", model="z14", model_fallback="forbid")
    dom.cpu.mode = "host-model"
    dom.cpu.match = None
    dom.cpu.model = None  # the fallback attribute keeps <model> alive
    assert dom.cpu.model is None
    assert dom.cpu.model_fallback == "forbid"
    dom.cpu.model_fallback = None  # now <model> goes as well
    assert "<model" not in dom.cpu.to_xml()
    dom.cpu.mode = "maximum"
    dom.cpu.migratable = False
    return dom


@case
def golden_features() -> Domain:
    """Hypervisor features: modelled ones change, the <hyperv> block stays as it was."""
    dom = Domain.from_xml(golden_in("features"))
    features = dom.features
    assert features.acpi
    assert features.apic
    assert not features.pae
    assert features.vmport is False
    assert dom.cpu.mode == "host-passthrough"
    assert dom.cpu.migratable is True
    assert dom.clock.offset == "localtime"
    assert [(t.name, t.tickpolicy, t.present) for t in dom.clock.timers] == [
        ("rtc", "catchup", None),
        ("pit", "delay", None),
        ("hpet", None, False),
        ("hypervclock", None, True),
    ]
    features.pae = True
    features.apic = False
    features.pmu = False
    features.smm = True
    features.ioapic_driver = "kvm"
    features.vmcoreinfo = True
    features.hap = True
    features.viridian = False  # Xen's; absent stays absent
    features.htm = None
    dom.clock.timers = [t for t in dom.clock.timers if t.name != "hypervclock"]
    dom.clock.timers[0].track = "guest"
    return dom


@case
def golden_features_aarch64() -> Domain:
    """An ARM guest's GIC version; a direct kernel boot with its own device tree."""
    dom = Domain(type="kvm", name="arm")
    dom.memory_kib = 131072
    dom.os = Os(type="hvm", arch="aarch64", machine="virt")
    dom.os.kernel = "/var/lib/zcompute/images/Image"
    dom.os.dtb = "/var/lib/zcompute/images/virt.dtb"
    dom.features.gic_version = "3"
    dom.features.acpi = True
    dom.cpu.mode = "host-passthrough"
    assert dom.features.gic_version == "3"
    assert dom.os.dtb == "/var/lib/zcompute/images/virt.dtb"
    return dom


@case
def golden_clock_variants() -> Domain:
    """Clock offsets with their attributes."""
    dom = Domain(type="kvm", name="clocks")
    dom.memory_kib = 131072
    dom.os.type = "hvm"
    dom.clock = Clock(offset="variable", adjustment="3600", basis="utc")
    dom.clock.timers = [Timer(name="kvmclock", present=True), Timer(name="tsc", tickpolicy="merge")]
    assert dom.clock.adjustment == "3600"
    dom.clock.offset = "timezone"
    dom.clock.adjustment = None
    dom.clock.basis = None
    dom.clock.timezone = "Europe/Berlin"
    return dom


@case
def golden_xen_hvm() -> Domain:
    """A Xen HVM guest as libvirt describes one: Xen's features and its variable clock.

    zcompute never creates one; the fields are modelled so that such XML reads and
    writes without loss.
    """
    dom = Domain(type="xen", name="xen-hvm")
    dom.memory_kib = 262144
    dom.os = Os(type="hvm", arch="x86_64", machine="xenfv")
    dom.features.acpi = True
    dom.features.viridian = True
    dom.features.privnet = True
    dom.clock = Clock(offset="variable", adjustment="0", basis="localtime")
    assert (dom.features.viridian, dom.features.privnet) == (True, True)
    assert (dom.clock.offset, dom.clock.adjustment, dom.clock.basis) == (
        "variable",
        "0",
        "localtime",
    )
    return dom


@case
def golden_launch_security_s390_pv() -> Domain:
    """IBM Secure Execution: launchSecurity s390-pv, no balloon."""
    dom = Domain.from_xml(golden_in("domain-basics"))
    dom.id = None
    dom.launch_security = LaunchSecurity(type="s390-pv")
    assert dom.launch_security.type == "s390-pv"
    assert dom.devices.memballoon is not None
    assert dom.devices.memballoon.model == "none"
    return dom


@case
def golden_launch_security_sev() -> Domain:
    """AMD SEV with its policy and certificates."""
    dom = Domain(type="kvm", name="sev")
    dom.memory_kib = 1048576
    dom.os = Os(type="hvm", arch="x86_64", machine="q35")
    dom.launch_security.type = "sev"
    dom.launch_security.kernel_hashes = True
    dom.launch_security.cbitpos = 47
    dom.launch_security.reduced_phys_bits = 1
    dom.launch_security.policy = 0x0003
    dom.launch_security.dh_cert = "RBBBSDDD="
    dom.launch_security.session = "ZZZZZZZZ="
    assert dom.launch_security.policy == 3
    assert "<policy>0x0003</policy>" in dom.to_xml()
    return dom


@case
def golden_keywrap() -> Domain:
    """s390x key wrapping, read from libvirt's own output and changed per cipher."""
    dom = Domain.from_xml(golden_in("keywrap"))
    dom.id = None
    assert dom.keywrap.aes is True
    assert dom.keywrap.dea is None
    assert [(c.name, c.state) for c in dom.keywrap.ciphers] == [("aes", True)]
    dom.keywrap.dea = False
    dom.keywrap.aes = False
    assert [(c.name, c.state) for c in dom.keywrap.ciphers] == [("aes", False), ("dea", False)]
    dom.keywrap.ciphers = [Cipher(name="dea", state=True)]
    assert dom.keywrap.aes is None
    assert dom.keywrap.dea is True
    return dom


@case
def golden_metadata() -> Domain:
    """zcompute's own record next to another application's, which stays untouched."""
    dom = Domain.from_xml(golden_in("metadata"))
    nova_ns = "http://openstack.org/xmlns/libvirt/nova/1.1"
    assert dom.metadata.namespaces == [nova_ns]
    assert not dom.zcompute.exists
    assert dom.zcompute.flavor is None
    dom.zcompute.instance_id = "5b8a5a0e-3c7e-4d55-9e53-6b0d5b0d7f01"
    dom.zcompute.flavor = "m1.small"
    dom.zcompute.image = "cirros"
    dom.zcompute.owner = "bob"
    dom.zcompute.managed_by = "nova:compute1"
    dom.zcompute.arch = "x86_64"
    dom.zcompute.machine = "pc-q35-7.2"
    dom.zcompute.created = datetime(2025, 2, 1, 8, 30, tzinfo=UTC)
    assert dom.metadata.namespaces == [nova_ns, ZCOMPUTE_NS]
    assert dom.metadata.find(nova_ns) is not None
    assert dom.zcompute.exists
    dom.zcompute.name = None
    return dom


@case
def golden_memory_backing_file() -> Domain:
    """File-backed guest memory as Nova's [libvirt] file_backed_memory writes it: a shared
    file mapping, allocated at start, discarded at exit; unmodelled children are kept."""
    dom = Domain(type="kvm", name="file-backed")
    dom.memory_kib = 262144
    dom.os = Os(type="hvm", arch="s390x", machine="s390-ccw-virtio")
    dom.memory_backing = MemoryBacking(
        source_type="file", access_mode="shared", allocation_mode="immediate", discard=True
    )
    assert dom.memory_backing.discard is True
    read = Domain.from_xml(
        "<domain type='kvm'><memoryBacking><nosharepages/><locked/></memoryBacking></domain>"
    )
    assert read.memory_backing.source_type is None
    read.memory_backing.source_type = "memfd"
    assert "<locked/>" in read.to_xml()
    return dom


# after the cases: the parameter list is read when this decorator runs
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    dom = CASES[name]()
    xml = dom.to_xml()
    assert_golden(name, xml)
    # every typed value reads back the same from the written text
    assert typed_view(Domain.from_xml(xml)) == typed_view(dom)
    # the output reads back to the same document (stable, lossless)
    assert Domain.from_xml(xml).to_xml() == xml
