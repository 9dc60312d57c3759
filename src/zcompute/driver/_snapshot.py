"""Snapshot: an instance's root disk becomes a new image in the image store.

* Stopped, crashed or suspended guest: QEMU does not hold the disk, so the image store flattens
  it directly (a suspended guest's disk is consistent with its saved memory).
* Running or paused guest: QEMU holds the disk (its image lock keeps qemu-img out), so QEMU
  copies it: a *block copy* mirrors the disk into a new file in the instance directory; once the
  mirror is in sync (libvirt's READY event) the job is ended without switching the guest over,
  which leaves a consistent copy as of that moment (crash-consistent for a running guest, exact
  for a paused one). The store then flattens that copy and the copy is deleted. A running
  guest whose image asks (``os_require_quiesce``, or only ``hw_qemu_guest_agent``: then if its
  agent answers) has its file systems frozen by its guest agent for the moment the job ends, so
  the copy holds clean file systems (:mod:`._quiesce`).

The new image inherits the instance image's architecture and properties. A kernel-boot guest's
root disk cannot boot by itself, so its image records the kernel-boot image in ``kernel_id``:
a guest spawned from it boots that kernel, initrd and command line with the snapshot as its disk.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from zcompute._faults import fault_point
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._operations import Operation, Operations
from zcompute.driver._quiesce import Quiescer
from zcompute.driver._state import ACTIVE, ANY_STOPPED
from zcompute.driver._undo import UndoStack
from zcompute.errors import Conflict, InvalidState, NotFound, Timeout, VirtError
from zcompute.model import (
    KERNEL_ID_PROPERTY,
    Image,
    InstanceState,
    Task,
    new_uuid,
    validate_name,
    validate_timeout,
)
from zcompute.virt import BlockJobStatus
from zcompute.xml import Disk, Domain

__all__ = ["SnapshotOps"]

DEFAULT_COPY_TIMEOUT = 600.0  # seconds for a block copy to get in sync
_SNAPSHOTTABLE = {*ACTIVE, *ANY_STOPPED, InstanceState.SUSPENDED}


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class SnapshotOps:
    """The snapshot operation of :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(self, ctx: DriverContext, ops: Operations) -> None:
        self._ctx = ctx
        self._ops = ops
        self._quiescer = Quiescer(ctx)

    def snapshot(
        self, name_or_uuid: str, image_name: str, *, timeout: float = DEFAULT_COPY_TIMEOUT
    ) -> Image:
        """Save the instance's root disk as image ``image_name``; returns the new image."""
        validate_name(image_name, "image_name", allow_uuid=False)
        validate_timeout(timeout)
        with self._ops.run(name_or_uuid, Task.SNAPSHOTTING, _SNAPSHOTTABLE, "snapshot") as op:
            self._refuse_taken(image_name)
            disk = self._ctx.root_disk_path(op.uuid)
            if any(spec.boot for spec in op.instance.block_devices):
                raise InvalidState(
                    f"instance {op.name} boots from a volume: snapshot that volume in its "
                    "storage (Cinder); nothing changed"
                )
            if not disk.is_file():
                raise InvalidState(
                    f"instance {op.name} has no root disk to snapshot (a kernel-boot image "
                    "with a flavor of root_gib 0); nothing changed"
                )
            if op.state in ACTIVE:
                return self._snapshot_live(op, disk, image_name, timeout)
            return self._store(op, disk, image_name)

    def _refuse_taken(self, image_name: str) -> None:
        try:
            self._ctx.images.get(image_name)
        except NotFound:
            return
        raise Conflict(f"an image named {image_name!r} already exists; nothing changed")

    def _store(self, op: Operation, disk: Path, image_name: str) -> Image:
        image = op.instance.image
        properties = dict(image.properties)
        if image.is_kernel_boot:
            properties[KERNEL_ID_PROPERTY] = image.id
        return self._ctx.images.snapshot_from(
            disk, image_name, arch=op.instance.arch, properties=properties
        )

    def _snapshot_live(self, op: Operation, disk: Path, image_name: str, timeout: float) -> Image:
        copy = disk.with_name(f".snapshot-{new_uuid()}.qcow2")
        try:
            self._block_copy(op, self._root_target(op, disk), copy, timeout)
            return self._store(op, copy, image_name)
        finally:
            copy.unlink(missing_ok=True)

    def _root_target(self, op: Operation, disk: Path) -> str:
        live = Domain.from_xml(self._ctx.domains.xml(op.uuid))
        for dev in live.devices.disks:
            if dev.source_file == str(disk) and dev.target_dev:
                return dev.target_dev
        raise InvalidState(f"instance {op.name} does not use its root disk {disk}")

    def _abort_job(self, uuid: str, target: str) -> None:
        """No job left behind; a job that is already gone is what we want."""
        with contextlib.suppress(NotFound, InvalidState):
            self._ctx.domains.block_job_abort(uuid, target)

    def _block_copy(self, op: Operation, target: str, copy: Path, timeout: float) -> None:
        """Mirror disk ``target`` into ``copy`` and stop once in sync (see the module docs)."""
        dest = Disk(type="file", device="disk")
        dest.driver_type = "qcow2"
        dest.source_file = str(copy)
        with UndoStack(guard=self._ctx.hv.when_back) as undo:
            # registered first: a copy call cut short may have started the job
            undo.push("abort the block job", lambda: self._abort_job(op.uuid, target))
            with self._ctx.events.expect_block_job(op.uuid, target) as job:
                self._ctx.domains.block_copy(op.uuid, target, dest.to_xml())
                fault_point("snapshot.copying")
                status = job.wait(timeout)
            if status is None:
                raise Timeout(
                    f"the copy of {op.name}'s disk {target} was not in sync after {timeout:.0f} s"
                )
            if status is not BlockJobStatus.READY:
                raise VirtError(f"the copy of {op.name}'s disk {target} ended: {status}")
        fault_point("snapshot.in_sync")
        # the copy is the disk as of the job's end: the guest's file systems are frozen for it
        with self._quiescer.frozen_for_snapshot(op):
            self._ctx.domains.block_job_abort(op.uuid, target)  # keep the copy, no switch-over
        fault_point("snapshot.copied")
