"""The guest plan: every decision about one guest, as plain data, before any XML exists.

The planner asks the architecture profile (machine, consoles, devices, CPU) and the host
(arch, KVM or TCG, machine types offered) and records the answers in a :class:`GuestPlan`.
The builder (:mod:`zcompute.builder`) renders a plan through the XML layer; nothing here
writes XML, and nothing here compares architecture names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from zcompute.arch import (
    ArchProfile,
    ConsoleSpec,
    CpuSpec,
    GuestDomainType,
    GuestPlatform,
    WatchdogSpec,
    baseline_model,
    choose_guest,
    choose_machine_type,
    get_profile,
    offered_arches,
    one_of,
)
from zcompute.config import Config
from zcompute.errors import ConfigError, InvalidInput
from zcompute.host import DomainCapabilities, HostCapabilities
from zcompute.model import BlockDeviceSpec, Flavor, Image, NetworkDiskSource, NICSpec
from zcompute.properties import (
    CMDLINE_PROPERTY,
    DISK_BUS_PROPERTY,
    DISK_READ_BYTES_SEC,
    DISK_READ_IOPS_SEC,
    DISK_TOTAL_BYTES_SEC,
    DISK_TOTAL_IOPS_SEC,
    DISK_WRITE_BYTES_SEC,
    DISK_WRITE_IOPS_SEC,
    GUEST_AGENT_PROPERTY,
    IMAGE_ARCH_PROPERTY,
    TRUE_WORDS,
    WATCHDOG_PROPERTY,
)
from zcompute.xml import DiskBus, DiskDevice, DiskType, MemBalloonModel, PanicModel

KERNEL_COPY, INITRD_COPY = "kernel", "initrd"  # an instance's own copies, in its folder
CONSOLE_LOG = "console.log"  # the log console's file, in the instance folder
CONFIG_DRIVE = "disk.config"  # the config drive's image, in the instance folder (as in Nova)
# the flavor's ephemeral and swap disks, in the instance folder (Nova's names), and the labels
# Nova gives them: cloud-init's mounts module mounts the disk labelled ephemeral0
EPHEMERAL_DISK, SWAP_DISK = "disk.eph0", "disk.swap"
EPHEMERAL_LABEL, SWAP_LABEL = "ephemeral0", "swap0"
GUEST_AGENT_CHANNEL = "org.qemu.guest_agent.0"
# A rescue boot's own files, in the instance folder (Nova's names): its disk (an overlay of the
# rescue image, or blank for a kernel-boot rescue image), its config drive and boot files
RESCUE_DISK, RESCUE_CONFIG_DRIVE = "disk.rescue", "disk.config.rescue"
RESCUE_SUFFIX = ".rescue"
RESCUE_FILES = (
    RESCUE_DISK,
    RESCUE_CONFIG_DRIVE,
    KERNEL_COPY + RESCUE_SUFFIX,
    INITRD_COPY + RESCUE_SUFFIX,
)
#: The serial of the rescue disk: how a rescued guest (and a test) tells it from its root disk.
RESCUE_SERIAL = "zcompute-rescue"
#: The metadata key naming the manager a guest belongs to (``nova:<host>``; absent for a guest
#: of the CLI). zcompute sets it itself; the domain's metadata records it as ``managed-by``.
MANAGED_BY_KEY = "managed-by"


@dataclasses.dataclass(frozen=True)
class DiskPlan:
    """One disk: its file or block device, format, bus and target name."""

    source: str
    source_type: DiskType  # "file" or "block"
    driver_type: str  # "qcow2" or "raw"
    target: str
    bus: DiskBus
    device: DiskDevice = "disk"
    readonly: bool = False
    serial: str | None = None
    boot_order: int | None = None
    # The store image below an instance's overlay: a read-only base that many guests share,
    # given to libvirt with the chain so that it never chowns it to the QEMU user.
    backing: str | None = None
    backing_format: str | None = None
    # I/O limits (``<iotune>`` element name, value > 0): the flavor's, on the guest's own disks
    iotune: tuple[tuple[str, int], ...] = ()
    # a volume QEMU reaches over the network itself (``source`` is then its description)
    network: NetworkDiskSource | None = None
    shareable: bool = False  # several guests write it: no host cache
    encryption_secret: str | None = None  # LUKS, decrypted by QEMU with this libvirt secret


@dataclasses.dataclass(frozen=True)
class ScratchDisk:
    """A blank disk of the flavor's that zcompute makes at spawn: its file, size and use."""

    file: str  # in the instance folder
    size: int  # bytes
    kind: Literal["ephemeral", "swap"]


# Nova's quota:disk_* extra specs and the <iotune> elements they set
_IOTUNE_ELEMENTS = {
    DISK_TOTAL_BYTES_SEC: "total_bytes_sec",
    DISK_READ_BYTES_SEC: "read_bytes_sec",
    DISK_WRITE_BYTES_SEC: "write_bytes_sec",
    DISK_TOTAL_IOPS_SEC: "total_iops_sec",
    DISK_READ_IOPS_SEC: "read_iops_sec",
    DISK_WRITE_IOPS_SEC: "write_iops_sec",
}


def disk_limits(flavor: Flavor) -> tuple[tuple[str, int], ...]:
    """The flavor's disk I/O limits as ``(iotune element, value)``; 0 (no limit) is left out.

    Like Nova's libvirt driver, they apply to each of the guest's own disks (root, ephemeral,
    swap, config drive), each limited on its own; volumes are not the flavor's to limit.
    """
    specs = flavor.extra_specs  # checked by Flavor: decimal integers, total xor read/write
    return tuple(
        (element, int(specs[key]))
        for key, element in _IOTUNE_ELEMENTS.items()
        if int(specs.get(key) or 0) > 0
    )


def scratch_disks(flavor: Flavor) -> tuple[ScratchDisk, ...]:
    """The flavor's ephemeral and swap disks, in the order their targets follow the root's."""
    disks = []
    if flavor.ephemeral_gib:
        disks.append(ScratchDisk(EPHEMERAL_DISK, flavor.ephemeral_gib << 30, "ephemeral"))
    if flavor.swap_mib:
        disks.append(ScratchDisk(SWAP_DISK, flavor.swap_mib << 20, "swap"))
    return tuple(disks)


@dataclasses.dataclass(frozen=True)
class NicPlan:
    """One NIC: its network, bridge or tap device (exactly one), MAC, model and MTU."""

    network: str | None
    bridge: str | None
    mac: str
    model: str
    tap: str | None = None
    mtu: int | None = None


@dataclasses.dataclass(frozen=True)
class GuestPlan:
    """Everything the builder needs to write one domain."""

    uuid: str
    name: str
    platform: GuestPlatform
    machine: str
    memory_mib: int
    vcpus: int
    cpu: CpuSpec
    features: tuple[str, ...]
    consoles: tuple[ConsoleSpec, ...]
    console_log: str
    usb_controller_model: str | None
    memballoon_model: MemBalloonModel
    panic_model: PanicModel | None
    watchdog: WatchdogSpec | None
    disks: tuple[DiskPlan, ...]
    nics: tuple[NicPlan, ...]
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # (image store file, the instance's own copy) for the kernel and initrd: libvirt gives the
    # files a guest boots to the QEMU user while it runs, so a guest never boots the shared ones
    boot_files: tuple[tuple[str, str], ...] = ()
    # a virtio channel for the QEMU guest agent (image property hw_qemu_guest_agent)
    guest_agent: bool = False
    # the config drive's disk target (its file is CONFIG_DRIVE in the instance folder)
    config_drive: str | None = None
    # the port of the interactive console's TCP server (None: the console is a pty)
    serial_port: int | None = None
    # guest memory is a shared file in QEMU's memory_backing_dir (file_backed_memory_mib)
    file_backed_memory: bool = False

    @property
    def arch(self) -> str:
        return self.platform.arch

    @property
    def domain_type(self) -> GuestDomainType:
        return self.platform.domain_type


@dataclasses.dataclass(frozen=True)
class HostView:
    """What the planner needs to know about the host (read once by ``init_host``)."""

    caps: HostCapabilities
    host_cpu_model: str | None
    kvm_usable: bool
    libvirt_version: int
    domcaps: Mapping[tuple[str, str, str], DomainCapabilities] = dataclasses.field(
        default_factory=dict
    )


def choose_platform(
    image: Image, config: Config, host: HostView, virt_type: str | None = None
) -> tuple[GuestPlatform, ArchProfile]:
    requested = image.prop(IMAGE_ARCH_PROPERTY) or image.arch
    platform = choose_guest(
        requested,
        host.caps,
        virt_type or config.virt_type,
        host.kvm_usable,
        offered_arches(config.guest_arches),
    )
    return platform, get_profile(platform.arch)


@dataclasses.dataclass(frozen=True)
class RescuePlan:
    """A rescue boot: ``image`` is booted (its disk as the first disk, or its kernel), with the
    guest's root disk second; ``boot_image`` is the kernel-boot image a disk image names in its
    ``kernel_id``; ``config_drive``: the rescue's own config drive instead of the guest's."""

    image: Image
    boot_image: Image | None = None
    config_drive: bool = False


@dataclasses.dataclass(frozen=True)
class PlanRequest:
    """The inputs of one plan: who, what, and where its files live."""

    uuid: str
    name: str
    flavor: Flavor
    image: Image
    instance_dir: Path
    root_disk: Path | None
    nics: tuple[NICSpec, ...] = ()
    block_devices: tuple[BlockDeviceSpec, ...] = ()
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    machine_type: str | None = None  # pinned at spawn; later plans reuse it
    virt_type: str | None = None
    # A disk image made from a kernel-boot guest (a snapshot) boots with that guest's kernel,
    # initrd and command line: the kernel-boot image its ``kernel_id`` property names.
    boot_image: Image | None = None
    # A config drive: its disk target is chosen by the first plan and recorded, and every
    # later plan of the instance pins it (the guest keeps seeing the drive under one name).
    config_drive: bool = False
    config_drive_target: str | None = None
    # The interactive console's TCP port, allocated by the driver and recorded with the
    # instance: with ``serial_tcp`` configured the console listens there, else it is a pty.
    serial_port: int | None = None
    # A rescued guest boots the rescue image, its root disk second (Nova's legacy rescue: its
    # volumes and its flavor's ephemeral and swap disks stay detached until it is unrescued).
    rescue: RescuePlan | None = None


def make_plan(request: PlanRequest, config: Config, host: HostView) -> GuestPlan:
    """Decide everything about one guest."""
    image, flavor = request.image, request.flavor
    props = {**image.properties, **flavor.extra_specs}
    platform, profile = choose_platform(image, config, host, request.virt_type)
    _check_root_volume(request, profile)
    machine = request.machine_type or choose_machine_type(
        platform.arch, platform.domain_type, props, config.machine_types, host.caps
    )
    domcaps = host.domcaps.get((platform.arch, machine, platform.domain_type))
    form = profile.console_form(config.console_form, host.libvirt_version)
    log_path = str(request.instance_dir / CONSOLE_LOG)
    endpoints = config.serial_tcp_endpoints
    tcp = None
    if endpoints is not None and request.serial_port is not None:
        tcp = (endpoints.host, request.serial_port)
    layout = profile.layout(log_path, form, tcp=tcp)
    watchdog_action = props.get(WATCHDOG_PROPERTY)
    rescue = request.rescue
    boot = _boot_image(request)
    suffix = "" if rescue is None else RESCUE_SUFFIX
    boot_files = _boot_files(boot, request.instance_dir, suffix)
    copies = {Path(copy).name.removesuffix(suffix): copy for _source, copy in boot_files}
    bus = _disk_bus(profile, props)
    boot_props = props
    if rescue is not None:  # the rescue image's command line (os_command_line)
        boot_props = {**rescue.image.properties, **flavor.extra_specs}
        drive = _rescue_drive_target(request, profile, bus)
        disks = _rescue_disks(request, rescue, profile, bus, drive)
    else:
        drive = _config_drive_target(request, profile, bus)
        disks = _disks(request, profile, bus, drive)
    return GuestPlan(
        uuid=request.uuid,
        name=request.name,
        platform=platform,
        machine=machine,
        memory_mib=flavor.memory_mib,
        vcpus=flavor.vcpus,
        cpu=profile.cpu_for(
            platform.domain_type,
            host.host_cpu_model,
            domcaps,
            baseline=baseline_model(config.cpu_baseline_model, platform.arch),
        ),
        features=profile.domain_features(),
        consoles=layout.specs,
        console_log=log_path,
        usb_controller_model=profile.usb_controller_model,
        memballoon_model=profile.memballoon_model(),
        panic_model=profile.panic_model,
        watchdog=(
            profile.watchdog(watchdog_action)
            if watchdog_action and watchdog_action != "disabled"
            else None
        ),
        disks=disks,
        nics=tuple(_nic(nic, profile) for nic in request.nics),
        kernel=copies.get(KERNEL_COPY),
        initrd=copies.get(INITRD_COPY),
        cmdline=_cmdline(boot, boot_props, layout.kernel_args, layout.interactive_device),
        metadata=request.metadata,
        boot_files=boot_files,
        guest_agent=_guest_agent(props, profile),
        config_drive=drive,
        serial_port=None if tcp is None else tcp[1],
        file_backed_memory=_file_backed_memory(config, profile, domcaps),
    )


def _check_root_volume(request: PlanRequest, profile: ArchProfile) -> None:
    """At most one root volume; a volume image (a description only) boots from one."""
    roots = [spec.target for spec in request.block_devices if spec.boot]
    if roots:
        profile.require("boot-from-volume")
    if len(roots) > 1:
        raise InvalidInput(
            "block_device.boot", f"{', '.join(roots)} are each marked the root volume", "one"
        )
    if request.image.is_volume_image and not roots:
        raise InvalidInput(
            "image",
            f"image {request.image.name} only describes a root volume's content: boot it "
            "with that volume",
            ["a disk or kernel-boot image", "a root volume (boot_volume)"],
        )


def _file_backed_memory(
    config: Config, profile: ArchProfile, domcaps: DomainCapabilities | None
) -> bool:
    """Whether the guest's memory is file-backed; refused where QEMU cannot back it so."""
    if not config.file_backed_memory_mib:
        return False
    profile.require("file-backed-memory")
    if domcaps is not None and "file" not in domcaps.memory_sources:
        raise ConfigError(
            "file_backed_memory_mib",
            f"{domcaps.path or 'QEMU'} cannot back {profile.arch} guest memory with a file "
            f"(it offers {', '.join(domcaps.memory_sources) or 'no memory backing'})",
            "0 (off) on this host",
        )
    return True


def guest_agent_wanted(props: Mapping[str, str]) -> bool:
    """Whether image properties (with a flavor's extra specs over them) ask for the agent."""
    return props.get(GUEST_AGENT_PROPERTY, "no").lower() in TRUE_WORDS


def _guest_agent(props: Mapping[str, str], profile: ArchProfile) -> bool:
    wanted = guest_agent_wanted(props)
    if wanted:
        profile.require("guest-agent")
    return wanted


def _config_drive_target(request: PlanRequest, profile: ArchProfile, disk_bus: str) -> str | None:
    """The recorded target, or (first plan) the first name no other disk of the guest uses."""
    if not request.config_drive:
        return None
    bus, _device = profile.config_drive()
    if request.config_drive_target is not None:
        return request.config_drive_target
    taken = {b.target for b in request.block_devices}
    if request.root_disk is not None:
        taken.add(target_name(profile.disk_bus, 0))
    taken.update(target for _disk, target in _scratch_targets(request, disk_bus))
    index = 0
    while target_name(bus, index) in taken:
        index += 1
    return target_name(bus, index)


def _boot_image(request: PlanRequest) -> Image:
    """The image whose kernel (or disk) the guest boots: the rescue image's while rescued."""
    if request.rescue is not None:
        return request.rescue.boot_image or request.rescue.image
    return request.boot_image or request.image


def _boot_files(boot: Image, instance_dir: Path, suffix: str = "") -> tuple[tuple[str, str], ...]:
    """The kernel and initrd ``boot`` boots with, each with its copy in the instance folder
    (named with ``suffix``: a rescue boot's copies never replace the guest's own)."""
    if boot.kernel_path is None:
        return ()
    files = [(boot.kernel_path, KERNEL_COPY)]
    if boot.initrd_path is not None:
        files.append((boot.initrd_path, INITRD_COPY))
    return tuple((str(source), str(instance_dir / (name + suffix))) for source, name in files)


def _cmdline(
    image: Image, props: Mapping[str, str], console_args: tuple[str, ...], interactive: str
) -> str | None:
    if not image.is_kernel_boot:
        return None
    base = props.get(CMDLINE_PROPERTY) or image.cmdline or ""
    words = [w for w in base.split() if not w.startswith("console=")]
    # The console= arguments are the profile's: they decide which console gets the boot log.
    words += console_args
    words.append(f"zcompute.tty={interactive.removeprefix('/dev/')}")
    return " ".join(words)


def _disk_bus(profile: ArchProfile, props: Mapping[str, str]) -> DiskBus:
    """The bus of the root disk and of the flavor's ephemeral and swap disks."""
    requested = props.get(DISK_BUS_PROPERTY) or profile.disk_bus
    bus = one_of(requested, profile.disk_buses)
    if bus is None:
        raise InvalidInput(
            DISK_BUS_PROPERTY,
            f"{requested!r} is not a disk bus on {profile.arch}",
            profile.disk_buses,
        )
    return bus


def _scratch_targets(request: PlanRequest, bus: str) -> list[tuple[ScratchDisk, str]]:
    """The flavor's ephemeral and swap disks with their targets: the names after the root's.

    They derive from the flavor and the image alone, so every plan of an instance (power on,
    reboot) gives them the same names.
    """
    first = 0 if request.root_disk is None and not boots_from_volume(request.block_devices) else 1
    disks = scratch_disks(request.flavor)
    return [(disk, target_name(bus, first + i)) for i, disk in enumerate(disks)]


def _disks(
    request: PlanRequest, profile: ArchProfile, bus: DiskBus, drive: str | None
) -> tuple[DiskPlan, ...]:
    # a root volume first: the firmware and an s390x guest's probe order meet it first
    disks = [disk_plan(spec, profile) for spec in request.block_devices if spec.boot]
    limits = disk_limits(request.flavor)
    if limits:
        profile.require("disk-rate-limit")
    if request.root_disk is not None:
        base = request.image  # a disk image is the root overlay's backing file
        disks.append(
            DiskPlan(
                str(request.root_disk),
                "file",
                "qcow2",
                target_name(bus, 0),
                bus,
                boot_order=1,
                backing=None if base.path is None else str(base.path),
                backing_format=None if base.path is None else base.disk_format,
                iotune=limits,
            )
        )
    for scratch, target in _scratch_targets(request, bus):  # raw: zcompute made them
        source = str(request.instance_dir / scratch.file)
        disks.append(DiskPlan(source, "file", "raw", target, bus, iotune=limits))
    if drive is not None:  # read-only, raw: its format is ours, never probed
        cd_bus, cd_device = profile.config_drive()
        source = str(request.instance_dir / CONFIG_DRIVE)
        disks.append(DiskPlan(source, "file", "raw", drive, cd_bus, cd_device, True, iotune=limits))
    disks += [disk_plan(spec, profile) for spec in request.block_devices if not spec.boot]
    targets = [d.target for d in disks]
    twice = next((t for t in targets if targets.count(t) > 1), None)
    if twice is not None:  # a volume given the name of the flavor's ephemeral disk, say
        raise InvalidInput("block_device.target", f"{twice} names two disks of the guest")
    return tuple(disks)


def _rescue_drive_target(request: PlanRequest, profile: ArchProfile, disk_bus: str) -> str | None:
    """A rescue boot's config drive (its own, or the guest's) follows the rescue and root disks."""
    rescue = request.rescue
    if rescue is None or not (rescue.config_drive or request.config_drive):
        return None
    bus, _device = profile.config_drive()
    taken = {target_name(disk_bus, 0), target_name(disk_bus, 1)}
    index = 0
    while target_name(bus, index) in taken:
        index += 1
    return target_name(bus, index)


def _rescue_disks(
    request: PlanRequest, rescue: RescuePlan, profile: ArchProfile, bus: DiskBus, drive: str | None
) -> tuple[DiskPlan, ...]:
    """The rescue disk first (it boots), the guest's root disk second, then a config drive."""
    folder = request.instance_dir
    base = rescue.image if rescue.image.path is not None else None
    disks = [
        DiskPlan(
            str(folder / RESCUE_DISK),
            "file",
            "qcow2",
            target_name(bus, 0),
            bus,
            serial=RESCUE_SERIAL,
            boot_order=1,
            backing=None if base is None else str(base.path),
            backing_format=None if base is None else base.disk_format,
        )
    ]
    if request.root_disk is not None:
        own = request.image
        disks.append(
            DiskPlan(
                str(request.root_disk),
                "file",
                "qcow2",
                target_name(bus, 1),
                bus,
                backing=None if own.path is None else str(own.path),
                backing_format=None if own.path is None else own.disk_format,
            )
        )
    root_volume = next((spec for spec in request.block_devices if spec.boot), None)
    if root_volume is not None:  # a guest booting from a volume: that volume, second
        second = dataclasses.replace(root_volume, target=target_name(bus, 1), bus=bus, boot=False)
        disks.append(disk_plan(second, profile))
    if drive is not None:
        cd_bus, cd_device = profile.config_drive()
        name = RESCUE_CONFIG_DRIVE if rescue.config_drive else CONFIG_DRIVE
        disks.append(DiskPlan(str(folder / name), "file", "raw", drive, cd_bus, cd_device, True))
    return tuple(disks)


def disk_plan(spec: BlockDeviceSpec, profile: ArchProfile) -> DiskPlan:
    device: DiskDevice = "disk" if spec.device == "disk" else "cdrom"
    requested = spec.bus if device == "disk" else profile.cdrom_bus
    allowed = profile.disk_buses if device == "disk" else profile.cdrom_buses
    bus = one_of(requested, allowed)
    if bus is None:
        raise InvalidInput(
            "bus", f"{requested!r} is not usable for a {device} on {profile.arch}", allowed
        )
    network = spec.source if isinstance(spec.source, NetworkDiskSource) else None
    source_type: DiskType = "network" if network else "file"
    if isinstance(spec.source, Path) and spec.source.is_block_device():
        source_type = "block"
    # The recorded format, never the file's header: a guest may have written a qcow2 header
    # naming a host file into its raw disk. Unrecorded means raw (nothing is interpreted).
    return DiskPlan(
        str(spec.source),
        source_type,
        spec.format or "raw",
        spec.target,
        bus,
        device,
        spec.readonly,
        spec.serial,
        network=network,
        shareable=spec.shareable,
        encryption_secret=spec.encryption_secret,
        boot_order=1 if spec.boot else None,
    )


def boots_from_volume(block_devices: Sequence[BlockDeviceSpec]) -> bool:
    """Whether a guest with these volumes boots from one of them (it has no local root)."""
    return any(spec.boot for spec in block_devices)


def nic_plan(nic: NICSpec, profile: ArchProfile) -> NicPlan:
    """One NIC (also used on its own for hotplug); a MAC is generated when none is given."""
    return _nic(nic, profile)


def _nic(nic: NICSpec, profile: ArchProfile) -> NicPlan:
    from zcompute.model import generate_mac

    model = nic.model or profile.nic_model
    if model not in profile.nic_models:
        raise InvalidInput(
            "nic model", f"{model!r} is not a NIC model on {profile.arch}", profile.nic_models
        )
    return NicPlan(nic.network, nic.bridge, nic.mac or generate_mac(), model, nic.tap, nic.mtu)


_PREFIX = {"virtio": "vd", "scsi": "sd", "sata": "sd", "ide": "hd", "usb": "sd"}


def target_name(bus: str, index: int) -> str:
    """The conventional target device name (``vda``, ``sdb``) for disk ``index`` on ``bus``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return _PREFIX.get(bus, "vd") + letters
