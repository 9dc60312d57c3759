"""The builder: renders a :class:`~zcompute.driver.GuestPlan` as libvirt domain XML.

It makes no decisions. The plan already holds every choice (the architecture profile's and
the host's); the builder only maps each one onto the XML layer's typed fields, so the same
plan always gives the same document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from zcompute.arch import ConsoleSpec
from zcompute.xml import (
    Console,
    Controller,
    Disk,
    Domain,
    Interface,
    MemBalloon,
    Panic,
    Serial,
    Watchdog,
)

if TYPE_CHECKING:
    from zcompute.driver._plan import DiskPlan, GuestPlan, NicPlan
    from zcompute.xml._enums import (
        CharType,
        ConsoleTarget,
        CpuMode,
        DiskBus,
        DiskDevice,
        DiskType,
        DomainType,
        MemBalloonModel,
        PanicModel,
        SerialTarget,
        SerialTargetModel,
        WatchdogAction,
        WatchdogModel,
    )

# The plan carries plain strings decided by the architecture profiles; the XML layer's typed
# fields check every value against libvirt's closed sets at run time, so the casts below only
# tell mypy what those checks guarantee.

__all__ = ["build_domain", "build_domain_xml", "chardev", "disk_device", "nic_device"]


def build_domain(plan: GuestPlan) -> Domain:
    """The domain for ``plan`` as a typed document."""
    dom = Domain(type=cast("DomainType", plan.domain_type))
    dom.name = plan.name
    dom.uuid = plan.uuid
    _metadata(dom, plan)
    dom.memory_kib = plan.memory_mib * 1024
    dom.current_memory_kib = plan.memory_mib * 1024
    dom.vcpu = plan.vcpus
    _os(dom, plan)
    for name in plan.features:
        setattr(dom.features, name, True)
    if plan.cpu.mode is not None:
        dom.cpu.mode = cast("CpuMode", plan.cpu.mode)
        if plan.cpu.model is not None:
            dom.cpu.model = plan.cpu.model
    dom.on_poweroff = "destroy"
    dom.on_reboot = "restart"
    dom.on_crash = "destroy"
    _devices(dom, plan)
    return dom


def build_domain_xml(plan: GuestPlan) -> str:
    return build_domain(plan).to_xml()


def _metadata(dom: Domain, plan: GuestPlan) -> None:
    meta = dom.metadata.zcompute
    meta.instance_id = plan.uuid
    meta.name = plan.name
    meta.flavor = plan.metadata.get("flavor")
    meta.image = plan.metadata.get("image")
    meta.owner = plan.metadata.get("owner")
    meta.arch = plan.arch
    meta.machine = plan.machine


def _os(dom: Domain, plan: GuestPlan) -> None:
    dom.os.type = "hvm"
    dom.os.arch = plan.arch
    dom.os.machine = plan.machine
    if plan.kernel is not None:
        dom.os.kernel = plan.kernel
        dom.os.initrd = plan.initrd
        dom.os.cmdline = plan.cmdline


def _devices(dom: Domain, plan: GuestPlan) -> None:
    devices = dom.devices
    if plan.platform.emulator:
        devices.emulator = plan.platform.emulator
    for disk in plan.disks:
        devices.add(disk_device(disk))
    if any(d.bus == "scsi" for d in plan.disks):
        devices.add(Controller(type="scsi", index=0, model="virtio-scsi"))
    if plan.usb_controller_model is not None:
        devices.add(Controller(type="usb", index=0, model=plan.usb_controller_model))
    for nic in plan.nics:
        devices.add(nic_device(nic))
    for spec in plan.consoles:
        devices.add(chardev(spec))
    if plan.watchdog is not None:
        watchdog = plan.watchdog
        devices.add(
            Watchdog(
                model=cast("WatchdogModel", watchdog.model),
                action=cast("WatchdogAction", watchdog.action),
            )
        )
    devices.memballoon = MemBalloon(model=cast("MemBalloonModel", plan.memballoon_model))
    if plan.panic_model is not None:
        devices.add(Panic(model=cast("PanicModel", plan.panic_model)))


def disk_device(plan: DiskPlan) -> Disk:
    """One disk (also used on its own for hotplug)."""
    disk = Disk(type=cast("DiskType", plan.source_type), device=cast("DiskDevice", plan.device))
    disk.driver_name = "qemu"
    disk.driver_type = plan.driver_type
    if plan.source_type == "block":
        disk.source_dev = plan.source
    else:
        disk.source_file = plan.source
    disk.target_dev = plan.target
    disk.target_bus = cast("DiskBus", plan.bus)
    disk.readonly = plan.readonly or None
    disk.serial = plan.serial
    disk.boot_order = plan.boot_order
    return disk


def nic_device(plan: NicPlan) -> Interface:
    """One NIC (also used on its own for hotplug)."""
    nic = Interface(type="network" if plan.network else "bridge")
    nic.mac = plan.mac
    if plan.network:
        nic.source_network = plan.network
    else:
        nic.source_bridge = plan.bridge
    nic.model = plan.model
    return nic


def chardev(spec: ConsoleSpec) -> Console | Serial:
    """A console or serial device as the profile specified it."""
    dev: Console | Serial = Console() if spec.element == "console" else Serial()
    dev.type = cast("CharType", spec.source_type)
    if spec.path is not None:
        dev.source_path = spec.path
    if spec.log_file is not None:
        dev.log_file = spec.log_file
        dev.log_append = spec.log_append or None
    if spec.port is not None:
        dev.target_port = spec.port
    if isinstance(dev, Console):
        dev.target_type = cast("ConsoleTarget | None", spec.target_type)
    else:
        dev.target_type = cast("SerialTarget | None", spec.target_type)
        dev.target_model = cast("SerialTargetModel | None", spec.target_model)
    return dev
