"""The builder: renders a :class:`~zcompute.plan.GuestPlan` as libvirt domain XML.

It makes no decisions. The plan already holds every choice (the architecture profile's and
the host's); the builder only maps each one onto the XML layer's typed fields, so the same
plan always gives the same document. It uses the XML layer's keyword constructors, its fast
path (one generated builder per class instead of one descriptor call per attribute).

The plan's values are typed with the XML layer's ``Literal`` types where they come from closed
sets (the architecture profiles declare them so), so mypy checks every field here without a
cast, and the XML layer still checks each value against libvirt's sets at run time.
"""

from __future__ import annotations

from zcompute.arch import ConsoleSpec
from zcompute.model import NetworkDiskSource
from zcompute.plan import GUEST_AGENT_CHANNEL, MANAGED_BY_KEY, DiskPlan, GuestPlan, NicPlan
from zcompute.xml import (
    BackingStore,
    Channel,
    Console,
    Controller,
    Cpu,
    Device,
    Devices,
    Disk,
    Domain,
    Features,
    InstanceMetadata,
    Interface,
    Iotune,
    MemBalloon,
    MemoryBacking,
    Metadata,
    Os,
    Panic,
    Serial,
    Watchdog,
)

__all__ = ["build_domain", "build_domain_xml", "chardev", "disk_device", "nic_device"]


def build_domain(plan: GuestPlan) -> Domain:
    """The domain for ``plan`` as a typed document."""
    dom = Domain(
        type=plan.domain_type,
        name=plan.name,
        uuid=plan.uuid,
        metadata=Metadata(zcompute=_metadata(plan)),
        memory_kib=plan.memory_mib * 1024,
        current_memory_kib=plan.memory_mib * 1024,
        vcpu=plan.vcpus,
        os=Os(
            type="hvm",
            arch=plan.arch,
            machine=plan.machine,
            kernel=plan.kernel,
            initrd=plan.initrd if plan.kernel else None,
            cmdline=plan.cmdline if plan.kernel else None,
        ),
        on_poweroff="destroy",
        on_reboot="restart",
        on_crash="destroy",
        devices=Devices(emulator=plan.platform.emulator),
    )
    if plan.features:
        features = Features()
        for name in plan.features:  # the profile names the flags (acpi, apic, ...)
            setattr(features, name, True)
        dom.features = features
    if plan.cpu.mode is not None:
        dom.cpu = Cpu(mode=plan.cpu.mode, model=plan.cpu.model)
        if plan.cpu.fallback is not None:
            dom.cpu.model_fallback = plan.cpu.fallback
    if plan.file_backed_memory:
        # as Nova's libvirt driver: a shared file mapping (the page cache backs it), allocated
        # when the guest starts, and its pages given back when it stops
        dom.memory_backing = MemoryBacking(
            source_type="file", access_mode="shared", allocation_mode="immediate", discard=True
        )
    for device in _devices(plan):
        dom.devices.add(device)
    return dom


def build_domain_xml(plan: GuestPlan) -> str:
    return build_domain(plan).to_xml()


def _metadata(plan: GuestPlan) -> InstanceMetadata:
    return InstanceMetadata(
        instance_id=plan.uuid,
        name=plan.name,
        flavor=plan.metadata.get("flavor"),
        image=plan.metadata.get("image"),
        owner=plan.metadata.get("owner"),
        managed_by=plan.metadata.get(MANAGED_BY_KEY),
        arch=plan.arch,
        machine=plan.machine,
    )


def _devices(plan: GuestPlan) -> list[Device]:
    devices: list[Device] = [disk_device(disk) for disk in plan.disks]
    if any(d.bus == "scsi" for d in plan.disks):
        devices.append(Controller(type="scsi", index=0, model="virtio-scsi"))
    if plan.usb_controller_model is not None:
        devices.append(Controller(type="usb", index=0, model=plan.usb_controller_model))
    devices += [nic_device(nic) for nic in plan.nics]
    devices += [chardev(spec) for spec in plan.consoles]
    if plan.guest_agent:  # libvirt picks the host socket's path, under its own directory
        devices.append(
            Channel(
                type="unix",
                source_mode="bind",
                target_type="virtio",
                target_name=GUEST_AGENT_CHANNEL,
            )
        )
    if plan.watchdog is not None:
        devices.append(Watchdog(model=plan.watchdog.model, action=plan.watchdog.action))
    devices.append(MemBalloon(model=plan.memballoon_model))
    if plan.panic_model is not None:
        devices.append(Panic(model=plan.panic_model))
    return devices


def disk_device(plan: DiskPlan) -> Disk:
    """One disk (also used on its own for hotplug)."""
    block = plan.source_type == "block"
    local = plan.network is None
    disk = Disk(
        type=plan.source_type,
        device=plan.device,
        driver_name="qemu",
        driver_type=plan.driver_type,
        # a disk several guests write must not be cached on the host (each would see its own)
        driver_cache="none" if plan.shareable else None,
        source_dev=plan.source if block else None,
        source_file=plan.source if local and not block else None,
        backing_store=_backing_store(plan),
        target_dev=plan.target,
        target_bus=plan.bus,
        readonly=plan.readonly or None,
        shareable=plan.shareable or None,
        serial=plan.serial,
        boot_order=plan.boot_order,
        iotune=_iotune(plan),
    )
    if plan.network is not None:
        _network_source(disk, plan.network)
    if plan.encryption_secret is not None:
        # QEMU's own LUKS driver; the guest sees the plain content
        disk.encryption_format = "luks"
        disk.encryption_engine = "qemu"
        disk.encryption_secret_uuid = plan.encryption_secret
    return disk


def _network_source(disk: Disk, source: NetworkDiskSource) -> None:
    """QEMU's own client (libiscsi): the host needs no iSCSI initiator of its own. A CHAP
    password is referred to by its libvirt secret, never written here."""
    disk.source_protocol = "iscsi"
    disk.source_name = source.name
    disk.source_host_name = source.host
    disk.source_host_port = source.port
    disk.source_initiator_iqn = source.initiator
    if source.auth_username is not None:
        disk.source_auth_username = source.auth_username
        disk.source_auth_secret_type = "iscsi"
        disk.source_auth_secret_uuid = source.auth_secret


def _iotune(plan: DiskPlan) -> Iotune | None:
    """The disk's I/O limits; none: no ``<iotune>`` element at all."""
    if not plan.iotune:
        return None
    iotune = Iotune()
    for element, value in plan.iotune:  # element names are Iotune's field names
        setattr(iotune, element, value)
    return iotune


def _backing_store(plan: DiskPlan) -> BackingStore | None:
    """The plan's backing file: a shared base, so libvirt must never chown it to QEMU."""
    if plan.backing is None:
        return None
    return BackingStore(
        type="file", format=plan.backing_format, source_file=plan.backing, dac_relabel=False
    )


def nic_device(plan: NicPlan) -> Interface:
    """One NIC (also used on its own for hotplug).

    A tap NIC is libvirt's ``ethernet`` type on a device that exists before the guest starts:
    ``managed='no'`` makes libvirt use it as it is, never create or delete it (zcompute does).
    """
    if plan.tap is not None:
        return Interface(
            type="ethernet",
            mac=plan.mac,
            target_dev=plan.tap,
            target_managed=False,
            model=plan.model,
            mtu=plan.mtu,
        )
    return Interface(
        type="network" if plan.network else "bridge",
        mac=plan.mac,
        source_network=plan.network,
        source_bridge=None if plan.network else plan.bridge,
        model=plan.model,
        mtu=plan.mtu,
    )


def chardev(spec: ConsoleSpec) -> Console | Serial:
    """A console or serial device as the profile specified it."""
    kind: type[Console] | type[Serial] = Console if spec.element == "console" else Serial
    tcp = spec.source_type == "tcp"  # a raw TCP server (no telnet: Nova's proxy relays bytes)
    dev = kind(
        type=spec.source_type,
        source_mode="bind" if tcp else None,
        source_host=spec.tcp_host,
        source_service=None if spec.tcp_port is None else str(spec.tcp_port),
        protocol="raw" if tcp else None,
        source_path=spec.path,
        source_append=True if spec.source_type == "file" and spec.append else None,
        log_file=spec.log_file,
        log_append=(spec.log_append or None) if spec.log_file else None,
        target_port=spec.port,
    )
    if isinstance(dev, Console):
        dev.target_type = spec.console_target
    else:
        dev.target_type = spec.serial_target
        dev.target_model = spec.target_model
    return dev
