"""Local volumes and NICs: attach to and detach from a guest, running (hotplug) or stopped.

A running or paused guest gets the device live *and* in its persistent definition; a stopped one
only in its definition. The instance record lists every attached device, so a hard reboot, which
defines the guest again from its record, keeps them. A tap NIC's device is created before the NIC
is attached (and removed if the attach fails) and removed once it is detached (:mod:`._taps`).

Detaching from a running guest is a request the guest must answer (it releases the device);
libvirt reports the device's removal with a DEVICE_REMOVED event, which the driver waits for,
with a timeout. Only then is the device removed from the definition and the record.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

from zcompute._faults import fault_point
from zcompute.arch import get_profile
from zcompute.builder import disk_device, nic_device
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._macs import refuse_shared_macs
from zcompute.driver._operations import Operation, Operations
from zcompute.driver._secrets import remove_secrets, secrets_of_volume
from zcompute.driver._state import ACTIVE, ANY_STOPPED
from zcompute.driver._taps import refuse_shared_taps
from zcompute.driver._undo import UndoStack
from zcompute.errors import BusFull, Conflict, InvalidInput, NotFound, Timeout
from zcompute.model import (
    BlockDeviceSpec,
    Instance,
    NICSpec,
    Task,
    network_source_text,
    validate_timeout,
)
from zcompute.plan import disk_plan, nic_plan, target_name
from zcompute.properties import DISK_BUS_PROPERTY
from zcompute.volumes import DiskSource
from zcompute.xml import Device, Disk, Domain, Interface

__all__ = [
    "DeviceFinder",
    "DeviceOps",
    "detach",
    "disk_source_text",
    "disk_with_target",
    "nic_with_mac",
]

DEFAULT_DETACH_TIMEOUT = 30.0
HOTPLUG_BUSES = ("virtio", "scsi", "usb")  # IDE and SATA disks cannot be added to a running guest
_ATTACHABLE = {*ACTIVE, *ANY_STOPPED}

DeviceFinder = Callable[[Domain], Device | None]


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class DeviceOps:
    """The volume and NIC operations of :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(self, ctx: DriverContext, ops: Operations) -> None:
        self._ctx = ctx
        self._ops = ops

    # -- volumes ---------------------------------------------------------------------------

    def attach_volume(
        self,
        name_or_uuid: str,
        volume: BlockDeviceSpec | DiskSource | Path | str,
        *,
        target: str | None = None,
        bus: str | None = None,
        readonly: bool = False,
        serial: str | None = None,
        disk_format: str | None = None,
        prepare: Callable[[Operation], None] | None = None,
        tag: str | None = None,
    ) -> BlockDeviceSpec:
        """Attach a file or block device as a disk; returns what was attached.

        ``volume`` is a :class:`BlockDeviceSpec`; or a path, or the :class:`DiskSource` of a
        volume a connector made local or QEMU reaches itself: then ``target`` defaults to
        the first free name on ``bus`` (the image's ``hw_disk_bus``, else the arch's bus).
        ``prepare`` runs first inside the operation (its task recorded), so that what it
        makes (a network volume's secrets) is recovered like the attach if it is cut short.
        ``tag``: the device role tag the guest finds in its device metadata.
        """
        verb = "attach a volume to"
        with self._ops.run(name_or_uuid, Task.ATTACHING_VOLUME, _ATTACHABLE, verb) as op:
            if prepare is not None:
                prepare(op)
            spec = self._volume_spec(
                op.instance, volume, target, bus, readonly, serial, disk_format, tag
            )
            live = op.state in ACTIVE
            self._check_new_disk(op, spec, live)
            disk = disk_device(disk_plan(spec, get_profile(op.instance.arch)))
            what = f"disk {spec.target}"
            op.touched.append(("disk", spec.target))
            self._attach(op, disk, what, live, spec.bus)
            fault_point("volume_attach.attached")
            self._record(op, spec, disk_with_target(spec.target), what)
            fault_point("volume_attach.recorded")
            return spec

    def detach_volume(
        self, name_or_uuid: str, target: str, timeout: float = DEFAULT_DETACH_TIMEOUT
    ) -> BlockDeviceSpec:
        """Detach the volume attached as ``target`` (e.g. ``vdb``); returns what it was."""
        validate_timeout(timeout)
        verb = "detach a volume from"
        with self._ops.run(name_or_uuid, Task.DETACHING_VOLUME, _ATTACHABLE, verb) as op:
            spec = next((b for b in op.instance.block_devices if b.target == target), None)
            if spec is None:
                if self._is_root_disk(op.instance, target):
                    raise InvalidInput("target", f"{target} is the root disk of {op.name}")
                attached = [b.target for b in op.instance.block_devices]
                raise NotFound(
                    "volume",
                    f"{target} of instance {op.name}",
                    _attached(f"no volume {target!r} is attached to instance {op.name}", attached),
                )
            if spec.boot:
                raise InvalidInput(
                    "target", f"{target} is the root volume of {op.name}, which boots from it"
                )
            op.touched.append(("disk", target))
            detach(self._ctx, op, disk_with_target(target), f"disk {target}", timeout)
            fault_point("volume_detach.detached")
            self._ctx.db.remove_attachment(op.uuid, "volume", target)
            fault_point("volume_detach.forgotten")
            remove_secrets(self._ctx, secrets_of_volume(spec))  # QEMU let go of them
            return spec

    def _volume_spec(
        self,
        inst: Instance,
        volume: BlockDeviceSpec | DiskSource | Path | str,
        target: str | None,
        bus: str | None,
        readonly: bool,
        serial: str | None,
        disk_format: str | None = None,
        tag: str | None = None,
    ) -> BlockDeviceSpec:
        if isinstance(volume, DiskSource):
            # virtio-blk keeps 20 bytes of a serial; a Cinder volume id (36) is cut, as QEMU would
            bus, serial = bus or volume.bus, (serial or volume.serial)[:20]
            if volume.network is not None:
                bus = bus or inst.image.prop(DISK_BUS_PROPERTY) or get_profile(inst.arch).disk_bus
                volume = BlockDeviceSpec(
                    source=volume.network,
                    target=target or self._free_target(inst, bus),
                    bus=bus,
                    readonly=volume.readonly or readonly,
                    serial=serial,
                    shareable=volume.shareable,
                    encryption_secret=volume.encryption_secret,
                    tag=tag,
                )
                target = bus = None
            else:
                volume = volume.path
        if isinstance(volume, BlockDeviceSpec):
            if target is not None or bus is not None:
                raise InvalidInput("target", "give target and bus in the BlockDeviceSpec")
            spec = volume if tag is None else dataclasses.replace(volume, tag=tag)
        else:
            bus = bus or inst.image.prop(DISK_BUS_PROPERTY) or get_profile(inst.arch).disk_bus
            source = Path(volume).absolute()
            spec = BlockDeviceSpec(
                source=source,
                target=target or self._free_target(inst, bus),
                bus=bus,
                readonly=readonly,
                serial=serial,
                format=disk_format,
                tag=tag,
            )
        prefix = target_name(spec.bus, 0)[:2]
        if spec.device == "disk" and not spec.target.startswith(prefix):
            raise InvalidInput(
                "block_device.target",
                f"{spec.target} does not name a disk on bus {spec.bus}",
                f"{prefix}a, {prefix}b, ...",
            )
        return self._ctx.checked_volume(spec)  # the volume policy, and its format decided once

    def _free_target(self, inst: Instance, bus: str) -> str:
        taken = self._disk_targets(inst)
        for index in range(26 + 26 * 26):  # vda ... vdzz: what a target name can hold
            name = target_name(bus, index)
            if name not in taken:
                return name
        raise Conflict(f"instance {inst.name} has no free disk name on bus {bus}")

    def _disk_targets(self, inst: Instance) -> set[str]:
        """Targets in use: the record's volumes, and every disk of the live and stored XML."""
        taken = {b.target for b in inst.block_devices}
        for xml in self._definitions(inst.uuid):
            taken |= {d.target_dev for d in xml.devices.disks if d.target_dev}
        return taken

    def _definitions(self, uuid: str) -> list[Domain]:
        docs = [Domain.from_xml(self._ctx.domains.xml(uuid, inactive=True))]
        if self._ctx.observed_state(uuid) in ACTIVE:
            docs.append(Domain.from_xml(self._ctx.domains.xml(uuid)))
        return docs

    def _check_new_disk(self, op: Operation, spec: BlockDeviceSpec, live: bool) -> None:
        if spec.target in self._disk_targets(op.instance):
            raise Conflict(f"instance {op.name} already has a disk {spec.target}")
        sources = {str(b.source) for b in op.instance.block_devices}
        for xml in self._definitions(op.uuid):
            sources |= {disk_source_text(d) for d in xml.devices.disks}
        if str(spec.source) in sources:
            raise Conflict(f"{spec.source} is already attached to instance {op.name}")
        if live and spec.bus not in HOTPLUG_BUSES:
            raise InvalidInput(
                "block_device.bus",
                f"a {spec.bus} disk cannot be added to running instance {op.name}",
                HOTPLUG_BUSES,
            )

    def _is_root_disk(self, inst: Instance, target: str) -> bool:
        root = str(self._ctx.root_disk_path(inst.uuid))
        stored = Domain.from_xml(self._ctx.domains.xml(inst.uuid, inactive=True))
        disk = disk_with_target(target)(stored)
        return isinstance(disk, Disk) and disk.source_file == root

    # -- NICs ------------------------------------------------------------------------------

    def attach_interface(self, name_or_uuid: str, nic: NICSpec) -> NICSpec:
        """Attach a NIC on a libvirt network, host bridge or new tap device; returns it with
        its MAC."""
        verb = "attach a NIC to"
        with self._ops.run(name_or_uuid, Task.ATTACHING_INTERFACE, _ATTACHABLE, verb) as op:
            self._check_nic_source(op, nic)
            planned = nic_plan(nic, get_profile(op.instance.arch))
            refuse_shared_macs(self._ctx.db, op.uuid, [planned])
            macs = self._macs(op.instance)
            if planned.mac in macs:
                raise Conflict(f"instance {op.name} already has a NIC with MAC {planned.mac}")
            spec = dataclasses.replace(nic, mac=planned.mac)
            what = f"NIC {planned.mac}"
            op.touched.append(("nic", planned.mac))
            with UndoStack() as undo:  # a tap made for a NIC that was not attached goes again
                if nic.tap is not None:
                    taps = self._ctx.taps
                    undo.push(
                        f"remove tap {nic.tap}", functools.partial(taps.remove, op.uuid, nic.tap)
                    )
                    taps.create(op.uuid, nic.tap, nic.mtu)
                self._attach(op, nic_device(planned), what, op.state in ACTIVE)
            fault_point("nic_attach.attached")
            self._record(op, spec, nic_with_mac(planned.mac), what)
            fault_point("nic_attach.recorded")
            return spec

    def detach_interface(
        self, name_or_uuid: str, mac: str, timeout: float = DEFAULT_DETACH_TIMEOUT
    ) -> NICSpec:
        """Detach the NIC with MAC address ``mac``; returns what it was."""
        validate_timeout(timeout)
        verb = "detach a NIC from"
        with self._ops.run(name_or_uuid, Task.DETACHING_INTERFACE, _ATTACHABLE, verb) as op:
            wanted = mac.lower()
            spec = next((n for n in op.instance.nics if n.mac == wanted), None)
            if spec is None:
                macs = [n.mac or "" for n in op.instance.nics]
                raise NotFound(
                    "NIC",
                    f"{mac} of instance {op.name}",
                    _attached(f"no NIC with MAC {mac} is attached to instance {op.name}", macs),
                )
            op.touched.append(("nic", wanted))
            detach(self._ctx, op, nic_with_mac(wanted), f"NIC {wanted}", timeout)
            if spec.tap is not None:  # QEMU let go of it: libvirt leaves it (managed='no')
                self._ctx.taps.remove(op.uuid, spec.tap)
            fault_point("nic_detach.detached")
            self._ctx.db.remove_attachment(op.uuid, "nic", wanted)
            fault_point("nic_detach.forgotten")
            return spec

    def _check_nic_source(self, op: Operation, nic: NICSpec) -> None:
        if nic.tap is not None:  # zcompute makes it: its name must be free
            if any(n.tap == nic.tap for n in op.instance.nics):
                raise Conflict(f"instance {op.name} already has a NIC on tap {nic.tap}")
            refuse_shared_taps(self._ctx.db, op.uuid, [nic.tap])
            self._ctx.taps.refuse_taken(op.uuid, [nic.tap])
        elif nic.network is not None:
            networks = self._ctx.hv.network_names()
            if nic.network not in networks:
                raise InvalidInput(
                    "nic.network", f"libvirt has no network {nic.network!r}", networks
                )
        elif nic.bridge is not None and not Path("/sys/class/net", nic.bridge, "bridge").is_dir():
            bridges = sorted(p.parent.name for p in Path("/sys/class/net").glob("*/bridge"))
            raise InvalidInput("nic.bridge", f"no host bridge {nic.bridge!r}", bridges)

    def _macs(self, inst: Instance) -> set[str]:
        macs = {n.mac for n in inst.nics if n.mac}
        for xml in self._definitions(inst.uuid):
            macs |= {i.mac.lower() for i in xml.devices.interfaces if i.mac}
        return macs

    # -- attach and detach -----------------------------------------------------------------

    def _attach(
        self, op: Operation, device: Device, what: str, live: bool, bus: str = "virtio"
    ) -> None:
        try:
            self._ctx.domains.attach_device(op.uuid, device.to_xml(), live=live, config=True)
        except BusFull as err:
            raise BusFull(
                f"cannot attach {what} to instance {op.name}: its {bus} bus is full "
                f"(libvirt: {err}); nothing was attached"
            ) from err

    def _record(
        self, op: Operation, spec: BlockDeviceSpec | NICSpec, find: DeviceFinder, what: str
    ) -> None:
        """Record an attached device. If that fails, the operation's undo (recovery's
        ``undo_partial``, for the devices it touched) detaches it again: no unrecorded device
        is left."""
        self._ctx.db.add_attachment(op.uuid, spec)


def detach(
    ctx: DriverContext, op: Operation, find: DeviceFinder, what: str, timeout: float
) -> None:
    """Remove a device from the running guest (waiting for it), then from its definition.

    A function of the context, not of :class:`DeviceOps`: recovery detaches what an
    interrupted attach left, outside any operation of the devices part.
    """
    if op.state in ACTIVE:
        device = find(Domain.from_xml(ctx.domains.xml(op.uuid)))
        if device is not None:
            _unplug(ctx, op, device, what, timeout)
            fault_point("detach.unplugged")
    stored = find(Domain.from_xml(ctx.domains.xml(op.uuid, inactive=True)))
    if stored is not None:
        ctx.domains.detach_device(op.uuid, stored.to_xml(), live=False, config=True)


def _unplug(ctx: DriverContext, op: Operation, device: Device, what: str, timeout: float) -> None:
    alias = device.alias or ""
    with ctx.events.expect_removal(op.uuid, alias) as removed:
        ctx.domains.detach_device(op.uuid, device.to_xml(), live=True, config=False)
        if removed.wait(timeout) is None:
            raise Timeout(
                f"instance {op.name} did not release {what} within {timeout:.0f} s; it is "
                "still attached (the guest must answer the unplug request; retry later)"
            )


def _attached(message: str, attached: list[str]) -> str:
    return f"{message} (attached: {', '.join(attached) or 'none'})"


def disk_source_text(disk: Disk) -> str:
    """What a disk of a domain is made of, spelled as its record's ``str(source)``."""
    if disk.type == "network" and disk.source_protocol and disk.source_host_name:
        return network_source_text(
            disk.source_protocol,
            disk.source_host_name,
            disk.source_host_port,
            disk.source_name or "",
        )
    return disk.source_file or disk.source_dev or ""


def disk_with_target(target: str) -> DeviceFinder:
    def find(dom: Domain) -> Device | None:
        return next((d for d in dom.devices.disks if d.target_dev == target), None)

    return find


def nic_with_mac(mac: str) -> DeviceFinder:
    def find(dom: Domain) -> Device | None:
        found: Interface | None = next(
            (i for i in dom.devices.interfaces if (i.mac or "").lower() == mac), None
        )
        return found

    return find
