"""Spawn and destroy: a guest is created step by step, undone on any failure, and removed.

Every step of a spawn that creates something (the record, the instance folder, the root disk,
the flavor's ephemeral and swap disks, the tap devices of tap NICs, the domain's definition,
the running domain) registers its undo first, so a failure leaves nothing behind: no
half-defined domain, orphan disk, tap device or stale record. A spawn or destroy cut short
by a killed process is finished or undone by recovery (:mod:`._recovery`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from zcompute._faults import fault_point
from zcompute.arch import get_profile
from zcompute.builder import build_domain_xml
from zcompute.configdrive import ConfigDrive, config_drive_files, write_config_drive
from zcompute.driver import _console
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import ROOT_DISK, DriverContext
from zcompute.driver._devicetags import openstack_devices, tagged_devices
from zcompute.driver._guests import Guests
from zcompute.driver._hostops import HostOps
from zcompute.driver._macs import refuse_shared_macs
from zcompute.driver._metadata import instance_metadata, user_metadata
from zcompute.driver._recovery import Recovery
from zcompute.driver._scratch import create_scratch_disks
from zcompute.driver._secrets import define_secrets, remove_secrets
from zcompute.driver._taps import refuse_shared_taps
from zcompute.driver._undo import UndoStack
from zcompute.driver._volumeconnect import PreparedVolume, prepare_volume
from zcompute.errors import Conflict, InvalidInput, InvalidState, NotFound
from zcompute.model import (
    BlockDeviceSpec,
    Flavor,
    Image,
    Instance,
    InstanceState,
    NICSpec,
    Task,
    new_uuid,
    validate_manager,
    validate_name,
    validate_timeout,
    validate_uuid,
)
from zcompute.plan import (
    CONFIG_DRIVE,
    MANAGED_BY_KEY,
    GuestPlan,
    HostView,
    boots_from_volume,
    make_plan,
    target_name,
)
from zcompute.properties import DISK_BUS_PROPERTY
from zcompute.virt import PowerState
from zcompute.volumes import VolumeConnection

__all__ = ["SpawnOps"]

LOG = logging.getLogger("zcompute.driver")


@dataclasses.dataclass(frozen=True)
class _Request:
    """What a spawn (or its dry run) was asked for, checked: one object through its steps."""

    name: str
    image: Image
    flavor: Flavor
    nics: Sequence[NICSpec]
    block_devices: Sequence[BlockDeviceSpec]
    metadata: Mapping[str, str]  # the user's, not zcompute's own keys
    config_drive: ConfigDrive | None
    managed_by: str | None = None  # the manager the guest belongs to (``nova:<host>``)
    boot_volume: VolumeConnection | None = None  # the root volume (boot from volume)


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class SpawnOps:
    """Plan, spawn and destroy for :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(
        self, ctx: DriverContext, guests: Guests, recovery: Recovery, host_ops: HostOps
    ) -> None:
        self._ctx = ctx
        self._guests = guests
        self._recovery = recovery
        self._host_ops = host_ops  # spawn probes KVM, once per host

    def plan(
        self,
        name: str,
        image: str | Image,
        flavor: str | Flavor,
        *,
        nics: Sequence[NICSpec] = (),
        block_devices: Sequence[BlockDeviceSpec] = (),
        metadata: Mapping[str, str] | None = None,
        uuid: str | None = None,
        host: HostView | None = None,
        config_drive: ConfigDrive | None = None,
    ) -> GuestPlan:
        """Every decision a spawn would make, without creating anything (``--dry-run``).

        ``host`` defaults to the host as read once; a dry run passes ``dry_run_host``'s.
        """
        asked = self._checked(name, image, flavor, nics, block_devices, metadata, config_drive)
        return self._plan_checked(asked, uuid, host or self._ctx.host)

    def _checked(
        self,
        name: str,
        image: str | Image,
        flavor: str | Flavor,
        nics: Sequence[NICSpec],
        block_devices: Sequence[BlockDeviceSpec],
        metadata: Mapping[str, str] | None,
        config_drive: ConfigDrive | None,
    ) -> _Request:
        """The request, checked once: bad input is refused before anything is probed or made,
        and the plan and the record share the volumes' checked specs (policy, format)."""
        name = validate_name(name, "name")
        if any(spec.boot for spec in block_devices):  # only spawn's own root volume boots
            raise InvalidInput(
                "block_device.boot", "give the root volume as boot_volume", ["False"]
            )
        extra = user_metadata(metadata)
        image_obj, flavor_obj = self._resolve(image, flavor)
        checked = tuple(self._ctx.checked_volume(b) for b in block_devices)
        return _Request(name, image_obj, flavor_obj, nics, checked, extra, config_drive)

    def _plan_checked(self, asked: _Request, uuid: str | None, host: HostView) -> GuestPlan:
        """The plan for a request :meth:`_checked` made."""
        uuid = uuid or new_uuid()
        image, flavor = asked.image, asked.flavor
        request = dataclasses.replace(
            self._guests.plan_request(
                uuid, asked.name, image, flavor, boots_from_volume(asked.block_devices)
            ),
            nics=tuple(asked.nics),
            block_devices=tuple(asked.block_devices),
            metadata=instance_metadata(
                uuid, asked.name, flavor, image, asked.metadata, asked.managed_by
            ),
            config_drive=asked.config_drive is not None,
            serial_port=self._guests.new_serial_port(),
        )
        return make_plan(request, self._ctx.config, host)

    def spawn(
        self,
        name: str,
        image: str | Image,
        flavor: str | Flavor,
        *,
        nics: Sequence[NICSpec] = (),
        block_devices: Sequence[BlockDeviceSpec] = (),
        metadata: Mapping[str, str] | None = None,
        wait_for: str | re.Pattern[str] | None = None,
        timeout: float = 120.0,
        uuid: str | None = None,
        config_drive: ConfigDrive | None = None,
        managed_by: str | None = None,
        boot_volume: VolumeConnection | None = None,
    ) -> Instance:
        """Create and start a guest; on any failure everything created so far is removed.

        ``wait_for`` (a regular expression) makes spawn return only once a console log line
        matches it, e.g. a guest's ready banner. ``uuid`` may be given to know the instance's
        paths (console log) before spawn returns. ``config_drive``: what the guest's config
        drive holds besides its identity (written into its folder, attached read-only).
        ``managed_by``: the manager the guest belongs to (the Nova adapter's ``nova:<host>``),
        recorded in its metadata; :meth:`instances_managed_by` finds the guests by it.
        ``boot_volume``: a Cinder volume the guest boots from instead of a local root disk
        (boot from volume); ``image`` then describes what the volume holds (a volume image,
        or a kernel-boot image to boot it with).
        """
        ctx = self._ctx
        validate_timeout(timeout)
        asked = self._checked(name, image, flavor, nics, block_devices, metadata, config_drive)
        if managed_by is not None:
            asked = dataclasses.replace(asked, managed_by=validate_manager(managed_by))
        if boot_volume is not None:
            asked = dataclasses.replace(asked, boot_volume=_checked_volume(boot_volume))
        self._host_ops.probe_kvm()  # a step of its own: at most once per host (it is recorded)
        uuid = new_uuid() if uuid is None else validate_uuid(uuid)
        # bad input is refused before any step; a root volume's plan waits for its disk
        plan = None if asked.boot_volume else self._plan_checked(asked, uuid, ctx.host)
        with ctx.locks.hold(asked.name, uuid), UndoStack(guard=ctx.hv.when_back) as undo:
            self._refuse_existing(asked.name)
            ctx.reserve.require_room(f"booting {asked.name}")
            root = None
            if asked.boot_volume is not None:  # an FC LUN is connected here, undone on failure
                root = prepare_volume(ctx, asked.boot_volume, undo)
                asked = dataclasses.replace(
                    asked, block_devices=(self._root_spec(asked, root), *asked.block_devices)
                )
                plan = self._plan_checked(asked, uuid, ctx.host)
            assert plan is not None
            refuse_shared_macs(ctx.db, plan.uuid, plan.nics)
            taps = [nic.tap for nic in plan.nics if nic.tap is not None]
            refuse_shared_taps(ctx.db, plan.uuid, taps)
            ctx.taps.refuse_taken(plan.uuid, taps)  # before the record names them
            self._create(plan, asked, undo, root)
            if wait_for is not None:
                log = Path(plan.console_log)
                _console.wait_for_line(log, wait_for, timeout, lambda: self._running(uuid))
                fault_point("spawn.booted")
            return ctx.db.end_task(uuid, InstanceState.RUNNING)

    def _root_spec(self, asked: _Request, root: PreparedVolume) -> BlockDeviceSpec:
        """The root volume as the guest's first disk, which it boots from."""
        assert asked.boot_volume is not None
        image = asked.image
        arch = image.arch or self._ctx.host.caps.arch
        bus = asked.boot_volume.bus or image.prop(DISK_BUS_PROPERTY) or get_profile(arch).disk_bus
        source = root.source
        spec = BlockDeviceSpec(
            source=source.network or Path(source.path),
            target=target_name(bus, 0),
            bus=bus,
            readonly=source.readonly,
            serial=source.serial[:20],  # virtio-blk keeps 20 bytes, as QEMU would cut it
            shareable=source.shareable,
            encryption_secret=source.encryption_secret,
            tag=asked.boot_volume.tag,
            boot=True,
        )
        return self._ctx.checked_volume(spec)  # the volume policy, as for any volume

    def _resolve(self, image: str | Image, flavor: str | Flavor) -> tuple[Image, Flavor]:
        """Image and flavor objects for names (or the objects themselves)."""
        image_obj = image if isinstance(image, Image) else self._ctx.images.get(image)
        flavor_obj = flavor if isinstance(flavor, Flavor) else self._ctx.db.get_flavor(flavor)
        return image_obj, flavor_obj

    def _refuse_existing(self, name: str) -> None:
        try:
            found = self._ctx.db.get_instance(name)
        except NotFound:
            pass
        else:
            recovery = self._recovery
            ending = (Task.SPAWNING, Task.DESTROYING, Task.RELEASING)
            if found.task in ending and recovery.task_is_orphaned(found):
                LOG.warning("%s", recovery.recover(found))  # a spawn or delete cut short: undone
            else:
                raise Conflict(f"an instance named {name!r} already exists")
        if self._ctx.domains.uuid_of(name) is not None:
            raise Conflict(
                f"libvirt already has a domain named {name!r} that zcompute does not manage"
            )

    def _create(
        self, plan: GuestPlan, asked: _Request, undo: UndoStack, root: PreparedVolume | None
    ) -> Instance:
        ctx = self._ctx
        image, flavor = asked.image, asked.flavor
        nic_specs = tuple(
            dataclasses.replace(spec, mac=p.mac)
            for spec, p in zip(asked.nics, plan.nics, strict=True)
        )
        inst = Instance(
            uuid=plan.uuid,
            name=plan.name,
            flavor=flavor,
            image=image,
            arch=plan.arch,
            machine_type=plan.machine,
            domain_type=plan.domain_type,
            metadata=dict(plan.metadata),
            state=InstanceState.BUILDING,
            task=Task.SPAWNING,
            block_devices=tuple(asked.block_devices),
            nics=nic_specs,
            config_drive=plan.config_drive,
            serial_port=plan.serial_port,
        )
        ctx.db.add_instance(inst)
        undo.push(
            "delete the instance record",
            lambda: ctx.db.delete_instance(plan.uuid, missing_ok=True),
        )
        fault_point("spawn.recorded")
        if root is not None:
            self._record_root_volume(plan.uuid, root, undo)
        directory = ctx.instances_dir / plan.uuid
        directory.mkdir(mode=0o700)  # prepare_guest_files opens it to QEMU's group
        undo.push("remove the instance directory", lambda: shutil.rmtree(directory))
        fault_point("spawn.folder")
        # the local root disk, if the guest has one (a root volume is never written here)
        local_root = directory / ROOT_DISK
        if any(disk.source == str(local_root) for disk in plan.disks):
            self._create_root_disk(image, flavor, local_root)
            fault_point("spawn.disk")
        if create_scratch_disks(directory, flavor):  # undone with the folder
            fault_point("spawn.ephemeral")
        xml = build_domain_xml(plan)
        # Both undos are registered before their step: a call cut short (libvirtd died) may
        # have done its work; each tolerates a domain that is not there.
        undo.push(
            "undefine the domain",
            lambda: ctx.domains.undefine(plan.uuid),
            needed_by_older=True,
        )
        # defined before the config drive is written: the drive lists the tagged devices at
        # the addresses libvirt gave them (the guest starts only once its files are ready)
        ctx.domains.define(xml)
        fault_point("spawn.defined")
        if asked.config_drive is not None:
            self._write_config_drive(inst, asked.config_drive, asked.metadata, directory)
            fault_point("spawn.config_drive")
        self._guests.prepare_guest_files(directory, plan)
        self._create_taps(plan, undo)
        undo.push(
            "destroy the domain",
            lambda: ctx.domains.destroy_if_exists(plan.uuid),
            needed_by_older=True,
        )
        ctx.domains.start(plan.uuid)
        fault_point("spawn.started")
        ctx.domains.wait_state(plan.uuid, {PowerState.RUNNING}, timeout=30)
        return inst

    def _record_root_volume(self, uuid: str, root: PreparedVolume, undo: UndoStack) -> None:
        """The root volume's secrets (now that the record names them) and host connection."""
        ctx = self._ctx
        if root.secrets:
            made = [secret.uuid for secret in root.secrets]
            undo.push("remove the root volume's secrets", lambda: remove_secrets(ctx, made))
            define_secrets(ctx, uuid, root.secrets)
        if root.connection is not None:  # the undo disconnecting it is registered already
            target = next(b.target for b in ctx.db.get_instance(uuid).block_devices if b.boot)
            ctx.db.set_volume_connection(uuid, target, root.connection)
        fault_point("spawn.root_volume")

    def _write_config_drive(
        self, inst: Instance, drive: ConfigDrive, metadata: Mapping[str, str], directory: Path
    ) -> None:
        defined = self._ctx.domains.xml(inst.uuid, inactive=True)
        files = config_drive_files(
            drive,
            uuid=inst.uuid,
            name=inst.name,
            nics=inst.nics,
            metadata=metadata,
            devices=openstack_devices(tagged_devices(defined, inst)),
        )
        write_config_drive(files, directory / CONFIG_DRIVE)

    def _create_taps(self, plan: GuestPlan, undo: UndoStack) -> None:
        """The tap devices of tap NICs: libvirt only opens them (``managed='no'``)."""
        taps = self._ctx.taps
        made = False
        for nic in plan.nics:
            if nic.tap is not None:
                # removes only a device marked as this instance's: never one found there
                undo.push(
                    f"remove tap {nic.tap}", functools.partial(taps.remove, plan.uuid, nic.tap)
                )
                taps.create(plan.uuid, nic.tap, nic.mtu)
                made = True
        if made:
            fault_point("spawn.taps")

    def _create_root_disk(self, image: Image, flavor: Flavor, dest: Path) -> None:
        if image.path is not None:
            self._ctx.images.create_overlay(image, dest, flavor.root_gib)
        else:  # a kernel-boot image still gets the flavor's root disk, blank
            self._ctx.images.create_blank(dest, flavor.root_gib)

    def _running(self, uuid: str) -> bool:
        # a libvirtd restarted under the guest is waited for: QEMU runs on meanwhile
        state = self._ctx.hv.when_back(lambda: self._ctx.domains.state(uuid))
        return state in (PowerState.RUNNING, PowerState.BLOCKED)

    def remove_kept_disks(self, uuid: str) -> bool:
        """Remove the folder a delete that kept the disks left (``destroy(keep_disks=True)``);
        never while an instance or a domain has that uuid. False if there was none."""
        uuid = validate_uuid(uuid)
        try:
            self._ctx.db.get_instance(uuid)
        except NotFound:
            pass
        else:
            raise Conflict(f"instance {uuid} exists: delete it instead")
        folder = self._ctx.instances_dir / uuid
        if not folder.exists():
            return False
        if self._ctx.domains.exists(uuid):
            raise Conflict(f"a domain with uuid {uuid} exists: its files are in use")
        shutil.rmtree(folder)
        return True

    def instances_managed_by(self, manager: str) -> list[Instance]:
        """The instances recorded as belonging to ``manager`` (see :meth:`spawn`)."""
        manager = validate_manager(manager)
        return [
            inst
            for inst in self._ctx.db.list_instances()
            if inst.metadata.get(MANAGED_BY_KEY) == manager
        ]

    # -- destroy ----------------------------------------------------------------------------

    def destroy(self, name_or_uuid: str, *, keep_disks: bool = False) -> bool:
        """Stop and remove a guest with its definition and files. False if there was none.

        ``keep_disks``: its instance folder (disks, config drive, console log) stays, as Nova's
        ``destroy_disks=False`` asks; everything else goes, the record too. Refused only while
        another live process runs an operation on the guest; a task whose process is gone does
        not stand in the way.
        """
        try:
            inst = self._ctx.db.get_instance(name_or_uuid)
        except NotFound:
            return False
        with self._ctx.locks.hold(inst.name, inst.uuid):
            inst = self._ctx.db.get_instance(inst.uuid)
            if inst.task is not None and not self._recovery.task_is_orphaned(inst):
                raise InvalidState(
                    f"instance {inst.name} is busy with task {inst.task.value!r} in another "
                    "process; delete it when that ends"
                )
            self._ctx.db.take_task(inst.uuid, Task.RELEASING if keep_disks else Task.DESTROYING)
            fault_point("destroy.begun")
            self._recovery.remove_guest(inst, keep_files=keep_disks)
        return True


def _checked_volume(volume: object) -> VolumeConnection:
    if not isinstance(volume, VolumeConnection):
        raise InvalidInput("boot_volume", f"is a {type(volume).__name__}", ["VolumeConnection"])
    return volume
