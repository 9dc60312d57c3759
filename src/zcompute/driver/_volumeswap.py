"""Extend and swap: an attached volume grows, or another volume takes its place, under a guest.

* **Extend**: the storage behind a volume grew (the operator grew the file or the block device;
  later a storage back end grew a LUN). QEMU caches a disk's size, so it is told the new one
  (libvirt's ``blockResize``) and the guest gets a capacity change on the same device. Only raw
  volumes grow this way (a qcow2 volume's size is in its header, not its storage); shrinking
  and a size beyond the storage are refused. A stopped guest only has the size recorded: its
  next boot reads the storage.
* **Swap**: a running (or paused) guest's disk moves onto another volume without the guest
  noticing anything but the data: a *block copy* mirrors the disk onto the new volume as it is
  (libvirt's ``REUSE_EXT``: nothing is created or formatted), and once the mirror is in sync
  libvirt's pivot switches the guest's disk over; QEMU closes the old volume. The job is
  transient (libvirt allows that on a persistent guest, which it need not undefine as Nova
  does); zcompute writes the persistent definition's disk and the record afterwards (libvirt
  11.3 rewrites that disk's source at the pivot too, its encryption inside ``<source>``; the
  serial, the device's, stays the old one there and live). The new volume must have the size
  the guest sees: QEMU (since 5.1) refuses to mirror onto a target of another size, so a
  larger volume is refused up front too; swap onto one of the same size, then grow it and
  extend.

The new volume is a host path here, or a Cinder volume zcompute connects itself
(:mod:`._swapconnect`: an FC LUN the host connects, an iSCSI LUN QEMU logs in to): the block
copy's destination is then a block device or a network disk.

An interrupted swap converges (:func:`settle_swap`, run by the failed operation's undo and by
recovery): a copy that was not switched over is aborted, and the guest keeps the old volume; a
switch-over that happened is finished (definition and record follow the live disk, a network
disk too). Then the host connection of the volume the guest no longer uses is disconnected (the
swap journal, :func:`~._volumeconnect.settle_swap_connections`) and the libvirt secrets no
recorded volume names are removed (the old volume's CHAP or LUKS secret after a switch-over,
the new one's otherwise). A switch-over keeps the serial the guest sees until its next boot
(QEMU's device does not change); after one that was interrupted, the record keeps it too.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import stat
from pathlib import Path

from zcompute._faults import fault_point
from zcompute.arch import get_profile
from zcompute.builder import disk_device
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._devices import disk_source_text, disk_with_target
from zcompute.driver._operations import Operation, Operations
from zcompute.driver._secrets import remove_unused_secrets
from zcompute.driver._state import ACTIVE, ANY_STOPPED
from zcompute.driver._undo import UndoStack
from zcompute.driver._volumeconnect import journal_swap, settle_swap_connections
from zcompute.errors import Conflict, InvalidInput, NotFound, Timeout, VirtError, ZcomputeError
from zcompute.model import BlockDeviceSpec, Instance, NetworkDiskSource, Task, validate_timeout
from zcompute.plan import disk_plan
from zcompute.virt import BlockJobStatus
from zcompute.volumes import DiskSource
from zcompute.xml import Disk, Domain

__all__ = ["DEFAULT_SWAP_TIMEOUT", "SWAP_VERB", "VolumeChangeOps", "in_place_of", "settle_swap"]

LOG = logging.getLogger("zcompute.driver")
DEFAULT_SWAP_TIMEOUT = 600.0  # seconds for the copy onto the new volume to get in sync
SWAP_VERB = "swap a volume of"
SECTOR = 512  # the guest counts a virtio disk's size in 512-byte sectors
_EXTENDABLE = {*ACTIVE, *ANY_STOPPED}


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class VolumeChangeOps:
    """The extend and swap operations of :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(self, ctx: DriverContext, ops: Operations) -> None:
        self._ctx = ctx
        self._ops = ops

    # -- extend ----------------------------------------------------------------------------

    def extend_volume(
        self, name_or_uuid: str, target: str, new_size_bytes: int | None = None
    ) -> BlockDeviceSpec:
        """Tell the guest that volume ``target`` is ``new_size_bytes`` long now (None: the
        size of its storage, read again); returns the volume as recorded."""
        _check_size(new_size_bytes)
        verb = "extend a volume of"
        with self._ops.run(name_or_uuid, Task.EXTENDING_VOLUME, _EXTENDABLE, verb) as op:
            spec = recorded_volume(op.instance, target)
            if (spec.format or "raw") != "raw":
                raise InvalidInput(
                    "volume.format",
                    f"{target} of {op.name} is a {spec.format} file, whose size is in its header, "
                    "not its storage",
                    ["raw"],
                )
            storage = storage_size(spec)
            size = new_size_bytes if new_size_bytes is not None else storage
            if size is None:
                raise InvalidInput(
                    "new_size_bytes", f"the storage size of {target} cannot be read here", "bytes"
                )
            size -= size % SECTOR
            if op.state in ACTIVE:
                self._resize_live(op, target, size, storage)
            else:
                _refuse_bad_size(target, size, spec.size_bytes or 0, storage)
            fault_point("volume_extend.resized")
            extended = dataclasses.replace(spec, size_bytes=size)
            self._ctx.db.replace_volume(op.uuid, extended)
            fault_point("volume_extend.recorded")
            return extended

    def _resize_live(self, op: Operation, target: str, size: int, storage: int | None) -> None:
        current = self._ctx.domains.block_capacity(op.uuid, target)
        _refuse_bad_size(target, size, current, storage)
        if size != current:
            self._ctx.domains.block_resize(op.uuid, target, size)

    # -- swap ------------------------------------------------------------------------------

    def swap_volume(
        self,
        name_or_uuid: str,
        target: str,
        new_volume: BlockDeviceSpec | DiskSource | Path | str,
        *,
        timeout: float = DEFAULT_SWAP_TIMEOUT,
    ) -> BlockDeviceSpec:
        """Move volume ``target`` of a running guest onto ``new_volume`` (see the module docs);
        returns the new volume as recorded."""
        validate_timeout(timeout)
        with self._ops.run(name_or_uuid, Task.SWAPPING_VOLUME, ACTIVE, SWAP_VERB) as op:
            old = self.settled_volume(op, target)
            new = self.check_new(op, old, self._new_spec(old, new_volume))
            return self.switch_over(op, old, new, timeout)

    def settled_volume(self, op: Operation, target: str) -> BlockDeviceSpec:
        """The volume recorded as ``target``, once an earlier swap of it whose settle failed
        (its journal left) is settled: a new swap journals afresh."""
        recorded_volume(op.instance, target)  # NotFound naming the volumes it has
        if target in self._ctx.db.swap_journals(op.uuid):
            settle_swap(self._ctx, op.uuid, target)
        return recorded_volume(self._ctx.db.get_instance(op.uuid), target)

    def check_new(
        self, op: Operation, old: BlockDeviceSpec, new: BlockDeviceSpec
    ) -> BlockDeviceSpec:
        """``new`` (checked by the volume policy) as it is to take ``old``'s place: neither
        what ``old`` is nor another disk of the guest, and of the size the guest sees (known
        up front for a host path; QEMU refuses a network volume of another size)."""
        target = old.target
        if str(new.source) == str(old.source):
            raise InvalidInput("new_volume", f"{new.source} is what {target} uses already")
        if str(new.source) in self.disk_sources(op.uuid):
            raise Conflict(f"{new.source} is already attached to instance {op.name}")
        old_size = self._ctx.domains.block_capacity(op.uuid, target)
        new_size = storage_size(new)
        if new_size is not None and new_size - new_size % SECTOR != old_size:
            raise InvalidInput(
                "new_volume",
                f"{new.source} holds {new_size} bytes, {target} {old_size}: QEMU mirrors a "
                "disk only onto a volume of its size",
                f"a volume of {old_size} bytes (extend it after the swap)",
            )
        return dataclasses.replace(new, size_bytes=old_size)

    def switch_over(
        self,
        op: Operation,
        old: BlockDeviceSpec,
        new: BlockDeviceSpec,
        timeout: float,
        *,
        journaled: bool = False,
    ) -> BlockDeviceSpec:
        """Copy ``old``'s disk onto ``new`` and switch the guest over; the old volume's host
        connection and secrets go afterwards (see the module docs). ``journaled``: the new
        volume's connection is in the swap journal already."""
        op.touched.append(("disk", old.target))
        if not journaled:  # the old volume's connection, if it has one
            journal_swap(self._ctx, op.uuid, old, str(new.source), None)
        self._copy_and_switch(op, new, timeout)
        try:
            settle_swap_connections(self._ctx, op.uuid, old.target)
            remove_unused_secrets(self._ctx, op.uuid)
        except ZcomputeError as err:  # the swap happened; its journal keeps what is left
            LOG.error("instance %s: after the swap of %s: %s (left to repair, detach or "
                      "delete)", op.name, old.target, err)  # fmt: skip
        return new

    def _new_spec(
        self, old: BlockDeviceSpec, volume: BlockDeviceSpec | DiskSource | Path | str
    ) -> BlockDeviceSpec:
        """The new volume in the old one's place: same target, bus and mode; a serial of its
        own only if it brings one (a Cinder volume id), else the old one's."""
        if isinstance(volume, BlockDeviceSpec):
            if volume.target != old.target:
                raise InvalidInput(
                    "new_volume.target", f"{volume.target} is not {old.target}", [old.target]
                )
            spec = volume
        elif isinstance(volume, DiskSource):
            # a network volume comes with its connection_info: swap_volume_connection
            if volume.type != "block":
                raise InvalidInput("new_volume.type", f"{volume.type!r} volumes", ["block"])
            serial = (volume.serial or old.serial or "")[:20] or None
            spec = in_place_of(old, Path(volume.path), serial)
        else:
            spec = in_place_of(old, Path(volume).absolute(), old.serial)
        return self._ctx.checked_volume(spec)  # the volume policy, and its format decided once

    def disk_sources(self, uuid: str) -> set[str]:
        """What the guest's disks are made of, live and in its definition (as records spell
        them: a path, or a network volume's URL)."""
        docs = [self._ctx.domains.xml(uuid), self._ctx.domains.xml(uuid, inactive=True)]
        return {disk_source_text(d) for x in docs for d in Domain.from_xml(x).devices.disks}

    def _copy_and_switch(self, op: Operation, new: BlockDeviceSpec, timeout: float) -> None:
        target = new.target
        dest = disk_device(disk_plan(new, get_profile(op.instance.arch)))
        with UndoStack(guard=self._ctx.hv.when_back) as undo:
            # first: a copy call cut short may have started the job; after the pivot, this
            # finishes the switch-over instead (the guest uses the new volume by then)
            undo.push("settle the swap", functools.partial(settle_swap, self._ctx, op.uuid, target))
            with self._ctx.events.expect_block_job(op.uuid, target) as job:
                self._ctx.domains.block_copy(op.uuid, target, dest.to_xml(), reuse=True)
                fault_point("volume_swap.copying")
                status = job.wait(timeout)
            if status is None:
                raise Timeout(
                    f"the copy of {op.name}'s {target} onto {new.source} was not in sync after "
                    f"{timeout:.0f} s; the guest keeps its volume"
                )
            if status is not BlockJobStatus.READY:
                raise VirtError(f"the copy of {op.name}'s {target} onto {new.source}: {status}")
            fault_point("volume_swap.in_sync")
            self._ctx.domains.block_job_pivot(op.uuid, target)
            fault_point("volume_swap.pivoted")
            _store_definition(self._ctx, op.uuid, dest)
            fault_point("volume_swap.defined")
            self._ctx.db.replace_volume(op.uuid, new)
            fault_point("volume_swap.recorded")


# -- what extend, swap and recovery share ------------------------------------------------------


def recorded_volume(inst: Instance, target: str) -> BlockDeviceSpec:
    """The volume ``inst`` has recorded as ``target``, or NotFound listing those it has."""
    spec = next((b for b in inst.block_devices if b.target == target), None)
    if spec is None:
        attached = ", ".join(b.target for b in inst.block_devices) or "none"
        raise NotFound(
            "volume",
            f"{target} of instance {inst.name}",
            f"no volume {target!r} is attached to instance {inst.name} (attached: {attached})",
        )
    return spec


def storage_size(spec: BlockDeviceSpec) -> int | None:
    """The bytes the volume's storage holds (a raw file's length, a block device's size); for
    a qcow2 file its virtual size; None when it is not local (a network volume)."""
    if not isinstance(spec.source, Path):  # QEMU reaches it itself: it knows its size
        return None
    fd = os.open(spec.source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISBLK(info.st_mode)):
            return None
        if spec.format == "qcow2":
            return _qcow2_virtual_size(fd, spec.source)
        return os.lseek(fd, 0, os.SEEK_END)  # a block device's size too
    finally:
        os.close(fd)


def _qcow2_virtual_size(fd: int, path: Path) -> int:
    header = os.pread(fd, 32, 0)
    if len(header) < 32 or header[:4] != b"QFI\xfb":
        raise InvalidInput("new_volume", f"{path} has no qcow2 header", "a qcow2 file")
    return int.from_bytes(header[24:32], "big")


def _check_size(size: int | None) -> None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise InvalidInput("new_size_bytes", f"invalid size {size!r}", "a number of bytes > 0")


def _refuse_bad_size(target: str, size: int, current: int, storage: int | None) -> None:
    if size < current:
        raise InvalidInput(
            "new_size_bytes",
            f"{size} bytes is less than the {current} of {target}: volumes do not shrink",
            f"at least {current}",
        )
    if storage is not None and size > storage:
        raise InvalidInput(
            "new_size_bytes",
            f"{size} bytes is more than the storage of {target} holds ({storage})",
            f"at most {storage} (grow the storage first)",
        )


def in_place_of(
    old: BlockDeviceSpec, source: Path | NetworkDiskSource, serial: str | None
) -> BlockDeviceSpec:
    """``old`` with another source and serial (its format and size to be decided)."""
    return dataclasses.replace(old, source=source, serial=serial, format=None, size_bytes=None)


# what a block copy's pivot changes of a disk (libvirt's storage source): the rest (target,
# bus, address, serial the guest sees, cache, I/O limits) is the device's, which stays
_SOURCE_FIELDS = (
    "source_file", "source_dev", "source_protocol", "source_name", "source_host_name",
    "source_host_port", "source_initiator_iqn", "source_auth_username",
    "source_auth_secret_type", "source_auth_secret_uuid", "driver_type", "encryption_format",
    "encryption_engine", "encryption_secret_uuid", "source_encryption_format",
    "source_encryption_engine", "source_encryption_secret_uuid",
)  # fmt: skip


def _store_definition(ctx: DriverContext, uuid: str, disk: Disk) -> None:
    """Make the persistent definition's disk ``disk.target_dev`` use ``disk``'s source (a
    path or a network volume, its secrets by UUID) and serial; the device keeps its address
    (the guest finds it where it was after a restart)."""
    stored = disk_with_target(disk.target_dev or "")(
        Domain.from_xml(ctx.domains.xml(uuid, inactive=True))
    )
    if not isinstance(stored, Disk):
        return  # detached meanwhile from the definition: nothing to point elsewhere
    for name in _SOURCE_FIELDS:
        setattr(stored, name, None)
    stored.type = disk.type
    for name in _SOURCE_FIELDS:
        setattr(stored, name, getattr(disk, name))
    stored.serial = disk.serial
    ctx.domains.update_device(uuid, stored.to_xml(), live=False, config=True)


def settle_swap(ctx: DriverContext, uuid: str, target: str) -> list[str]:
    """Converge an interrupted swap of ``target``; says what was done.

    A copy job still running was not switched over: it is aborted without a pivot and the
    guest keeps the recorded volume. A live disk that uses another source than the record
    was switched over: the persistent definition and the record follow it. Then the swap's
    host connections and the instance's secrets are settled by the record (module docs).
    """
    inst = ctx.db.get_instance(uuid)
    spec = next((b for b in inst.block_devices if b.target == target), None)
    done = []
    if spec is not None and ctx.domains.exists(uuid):
        done += _settle_disk(ctx, uuid, spec)
    done += settle_swap_connections(ctx, uuid, target)
    return done + remove_unused_secrets(ctx, uuid)


def _settle_disk(ctx: DriverContext, uuid: str, spec: BlockDeviceSpec) -> list[str]:
    target = spec.target
    live = ctx.observed_state(uuid) in ACTIVE
    done = []
    if live and ctx.domains.block_job_progress(uuid, target) is not None:
        ctx.domains.block_job_abort(uuid, target)
        done.append(f"unfinished copy of {target} aborted; it keeps {spec.source}")
    disk = disk_with_target(target)(Domain.from_xml(ctx.domains.xml(uuid, inactive=not live)))
    if not isinstance(disk, Disk):
        return done
    source = disk_source_text(disk)
    if not source or source == str(spec.source):
        return done
    # switched over: the live disk is the truth
    _store_definition(ctx, uuid, disk)
    ctx.db.replace_volume(uuid, _spec_of(spec, disk))
    return [*done, f"interrupted swap of {target} finished: it uses {source}"]


def _spec_of(spec: BlockDeviceSpec, disk: Disk) -> BlockDeviceSpec:
    """The record of ``spec``'s volume as ``disk`` (switched over to) shows it."""
    source: Path | NetworkDiskSource
    if disk.type == "network":
        source = NetworkDiskSource(
            protocol=disk.source_protocol or "iscsi",
            host=disk.source_host_name or "",
            port=disk.source_host_port or 3260,
            name=disk.source_name or "",
            auth_username=disk.source_auth_username,
            auth_secret=disk.source_auth_secret_uuid,
            initiator=disk.source_initiator_iqn,
        )
    else:
        source = Path(disk.source_file or disk.source_dev or "")
    return dataclasses.replace(
        spec,
        source=source,
        format=disk.driver_type or spec.format,
        # libvirt keeps a rewritten source's encryption in <source>
        encryption_secret=disk.encryption_secret_uuid or disk.source_encryption_secret_uuid,
    )
