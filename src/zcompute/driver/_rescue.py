"""Rescue and unrescue: a guest boots from a rescue image with its own root disk second.

Rescue (Nova's *legacy* rescue) stops the guest at once, as Nova's libvirt driver does (Nova
shuts it down cleanly first), and boots it from a **rescue disk**: a new qcow2 overlay of the
rescue image in the instance folder (``disk.rescue``; blank for a kernel-boot rescue image,
whose kernel and initrd are booted instead, from copies of their own). The guest's root disk is
the second disk, untouched; a config drive follows (the rescue's own, e.g. with Nova's rescue
password, or the guest's). Its NICs and consoles stay as they were (the same console log); its
volumes and its flavor's ephemeral and swap disks stay detached while it is rescued. The
record says how it boots (:class:`~zcompute.model.Rescue`), so power on, hard reboot and the
host-boot resume boot the rescue definition too. Unrescue defines the guest as its record says
again, removes the rescue files and starts it.

Both converge after an interruption through one step, :func:`restore_original`: an interrupted
rescue is undone (the guest gets its own definition back, the rescue files go), an interrupted
unrescue is finished; neither ever touches the root disk. The guest is left stopped if the
interruption stopped it: recovery starts no guest.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from zcompute._faults import fault_point
from zcompute.builder import build_domain_xml
from zcompute.configdrive import ConfigDrive, config_drive_files, write_config_drive
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._guests import Guests
from zcompute.driver._metadata import RESERVED_METADATA_KEYS
from zcompute.driver._operations import Operation, Operations
from zcompute.driver._state import ACTIVE, ANY_STOPPED
from zcompute.driver._undo import UndoStack
from zcompute.errors import InvalidInput, InvalidState, NotFound
from zcompute.model import Image, Instance, InstanceState, Rescue, Task
from zcompute.plan import RESCUE_CONFIG_DRIVE, RESCUE_DISK, RESCUE_FILES
from zcompute.virt import PowerState
from zcompute.xml import Domain

__all__ = ["RescueOps", "remove_rescue_files", "restore_original"]

LOG = logging.getLogger("zcompute.driver")

#: A guest can be rescued (and unrescued) running, paused, stopped, crashed, or without a
#: domain (state error: rescue is how a broken guest is repaired); a suspended one is resumed
#: first (its saved memory belongs to its own definition).
_RESCUABLE = {*ACTIVE, *ANY_STOPPED, InstanceState.ERROR}
_BLANK_RESCUE_GIB = 1  # a kernel-boot rescue image's disk when the flavor sizes no root disk


def remove_rescue_files(folder: Path) -> list[str]:
    """Remove a rescue boot's files from an instance folder; returns the names removed."""
    removed = []
    for name in RESCUE_FILES:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
            removed.append(name)
    return removed


def _defined_as_rescue(ctx: DriverContext, uuid: str) -> bool:
    """Whether the domain's persistent definition is a rescue boot (it has the rescue disk)."""
    try:
        stored = Domain.from_xml(ctx.domains.xml(uuid, inactive=True))
    except NotFound:
        return False
    rescue_disk = str(ctx.instances_dir / uuid / RESCUE_DISK)
    return any(d.source_file == rescue_disk for d in stored.devices.disks)


def restore_original(ctx: DriverContext, guests: Guests, inst: Instance) -> list[str]:
    """Make ``inst`` its own guest again (see the module docs); says what it did.

    Every step checks before it acts, so running it again after an interruption anywhere
    finishes the job: the rescue domain stopped and defined as the record says, the rescue
    record dropped, the rescue files removed. Starting the guest is the caller's.
    """
    done = []
    own = inst.replace(rescue=None)
    if _defined_as_rescue(ctx, inst.uuid):
        plan = guests.replan(own)
        xml = build_domain_xml(plan)  # built first: a record that cannot be defined stops here
        ctx.domains.destroy_if_exists(inst.uuid)
        fault_point("unrescue.stopped")
        guests.prepare_guest_files(ctx.instances_dir / inst.uuid, plan)
        ctx.domains.define(xml)
        fault_point("unrescue.defined")
        done.append("its own definition restored")
    if inst.rescue is not None:
        ctx.db.set_rescue(inst.uuid, None)
        fault_point("unrescue.recorded")
        done.append("rescue record dropped")
    removed = remove_rescue_files(ctx.instances_dir / inst.uuid)
    if removed:
        fault_point("unrescue.files_removed")
        done.append(f"rescue files {', '.join(removed)} removed")
    return done


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class RescueOps:
    """Rescue and unrescue for :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(self, ctx: DriverContext, ops: Operations, guests: Guests) -> None:
        self._ctx = ctx
        self._ops = ops
        self._guests = guests

    def rescue(
        self,
        name_or_uuid: str,
        rescue_image: Image | None = None,
        *,
        config_drive: ConfigDrive | None = None,
    ) -> Instance:
        """Boot the guest from ``rescue_image`` (default: its own image), its root disk second.

        ``config_drive``: a config drive for the rescue boot (Nova's carries the rescue
        password); without one the guest's own config drive, if it has one, is attached. On
        failure the guest gets its own definition back and, if it ran, is started again.
        """
        with self._ops.run(name_or_uuid, Task.RESCUING, _RESCUABLE, "rescue") as op:
            image = self._rescue_image(op.instance, rescue_image)
            rescue = Rescue(image, config_drive is not None)
            plan = self._guests.replan(op.instance.replace(rescue=rescue))
            xml = build_domain_xml(plan)  # a rescue that cannot be planned changes nothing
            with UndoStack(guard=self._ctx.hv.when_back) as undo:
                if op.state in ACTIVE:  # runs last: the guest runs again, as it was
                    undo.push("start the guest again", lambda: self._start_if_stopped(op.uuid))
                undo.push("restore its own definition", lambda: self._restore(op.uuid))
                self._create_files(op, image, config_drive)
                self._ctx.db.set_rescue(op.uuid, rescue)
                fault_point("rescue.recorded")
                self._ctx.domains.destroy_if_exists(op.uuid)  # Nova's driver stops it hard
                fault_point("rescue.stopped")
                self._guests.prepare_guest_files(self._ctx.instances_dir / op.uuid, plan)
                self._ctx.domains.define(xml)
                fault_point("rescue.defined")
                self._guests.start_and_wait(op.uuid)
                fault_point("rescue.started")
        return self._ctx.db.get_instance(op.uuid)

    def unrescue(self, name_or_uuid: str) -> Instance:
        """Define the guest as its record says again, remove the rescue files and start it."""
        with self._ops.run(name_or_uuid, Task.UNRESCUING, _RESCUABLE, "unrescue") as op:
            if op.instance.rescue is None:
                raise InvalidState(f"instance {op.name} is not rescued; nothing changed")
            restore_original(self._ctx, self._guests, op.instance)
            self._start_if_stopped(op.uuid)
            fault_point("unrescue.started")
        return self._ctx.db.get_instance(op.uuid)

    def _rescue_image(self, inst: Instance, image: Image | None) -> Image:
        """The rescue image, checked: a disk or kernel-boot image of the guest's architecture."""
        image = image or inst.image
        if not isinstance(image, Image):
            raise InvalidInput("rescue_image", f"expected an Image, got {type(image).__name__}")
        if image.arch is not None and image.arch != inst.arch:
            raise InvalidInput(
                "rescue_image",
                f"image {image.name} is {image.arch}, instance {inst.name} is {inst.arch}",
                [inst.arch],
            )
        self._ctx.images.get(image.id)  # NotFound for an image not (or no longer) in the store
        return image

    def _create_files(self, op: Operation, image: Image, drive: ConfigDrive | None) -> None:
        folder = self._ctx.instances_dir / op.uuid
        remove_rescue_files(folder)  # what an earlier failed cleanup may have left
        disk = folder / RESCUE_DISK
        flavor = op.instance.flavor
        if image.path is not None:  # sized as Nova sizes it: the flavor's root disk
            self._ctx.images.create_overlay(image, disk, flavor.root_gib)
        else:
            self._ctx.images.create_blank(disk, flavor.root_gib or _BLANK_RESCUE_GIB)
        fault_point("rescue.disk")
        if drive is not None:
            inst = op.instance
            meta = {k: v for k, v in inst.metadata.items() if k not in RESERVED_METADATA_KEYS}
            files = config_drive_files(
                drive, uuid=inst.uuid, name=inst.name, nics=inst.nics, metadata=meta
            )
            write_config_drive(files, folder / RESCUE_CONFIG_DRIVE)
            fault_point("rescue.config_drive")

    def _restore(self, uuid: str) -> None:
        done = restore_original(self._ctx, self._guests, self._ctx.db.get_instance(uuid))
        LOG.warning("instance %s: rescue undone: %s", uuid, "; ".join(done) or "nothing to undo")

    def _start_if_stopped(self, uuid: str) -> None:
        if self._ctx.domains.state(uuid) not in (PowerState.RUNNING, PowerState.PAUSED):
            self._guests.start_and_wait(uuid)
