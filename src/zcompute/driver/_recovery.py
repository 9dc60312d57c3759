"""Recovery: operations that were interrupted are finished or undone, nothing is stranded.

Every operation records its task and the process running it (:mod:`zcompute.state._owner`).
When that process is gone (kill -9, a crash, a power cut) the task is *orphaned*; the next
command that touches the instance, the driver's start (``init_host``) and ``zcompute repair``
recover it according to what libvirt shows:

* ``spawning``: undone, like a failed spawn's rollback: the domain destroyed and undefined,
  its tap devices, volume connections, the instance folder and record removed;
* ``destroying``: finished;
* ``resizing``: undone (:mod:`._resizekept`): the kept disks, flavor and definition
  restored, the guest started again if it ran; ``reverting_resize``: finished the same way;
  ``confirming_resize``: finished (the kept state removed);
* ``snapshotting``: block jobs on the guest's disks aborted, the copy in progress removed (the
  image store removes its own half-made image), file systems it froze thawed;
* ``swapping_volume``: a copy onto the new volume that was not switched over is aborted (the
  guest keeps the old volume); a switch-over that happened is finished, the definition and the
  record following the live disk (:func:`~zcompute.driver._volumeswap.settle_swap`); the host
  connection of the volume the guest does not use is disconnected, the secrets no recorded
  volume names are removed;
* attaching or detaching a volume or NIC: the guest's devices are made to match the record:
  a device the domain has but the record does not (an attach cut short) is detached, a record
  of a device the domain no longer has (a detach cut short) is dropped, and a tap device marked
  as the instance's that no NIC uses any more is removed;
* ``rescuing`` is undone and ``unrescuing`` finished, both by :func:`._rescue.restore_original`
  (the guest's own definition, no rescue record or files; the root disk is never touched);
* anything else (power operations): the task is cleared and the state libvirt reports recorded.

``repair`` goes further: it also aborts block jobs that no running snapshot owns, makes every
guest's devices match its record, settles the host connections of swaps whose own settle failed
(a disconnect refused), removes image-store leftovers of dead processes, and removes domains
that live in this data directory but have no record, and tap devices marked as made for an
instance of this data directory that has no record (never a device chosen by its name).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
from collections.abc import Iterable

from zcompute._faults import fault_point
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._devices import (
    DeviceFinder,
    detach,
    disk_source_text,
    disk_with_target,
    nic_with_mac,
)
from zcompute.driver._fc import release_volume_connections
from zcompute.driver._guests import Guests
from zcompute.driver._operations import Operation
from zcompute.driver._quiesce import Quiescer
from zcompute.driver._rescue import remove_rescue_files, restore_original
from zcompute.driver._resizekept import KEEPING, drop_kept, restore_kept, start_if_it_ran
from zcompute.driver._secrets import (
    remove_instance_secrets,
    remove_unrecorded_secrets,
    remove_unused_secrets,
)
from zcompute.driver._state import ACTIVE
from zcompute.driver._volumeconnect import connections_of, disconnect_fc
from zcompute.driver._volumeswap import settle_swap
from zcompute.errors import NotFound, ZcomputeError
from zcompute.model import Instance, InstanceState, Task
from zcompute.plan import CONFIG_DRIVE, EPHEMERAL_DISK, SWAP_DISK
from zcompute.state import owner_alive, this_process
from zcompute.virt import PowerState
from zcompute.xml import Domain

__all__ = ["Recovery", "RepairReport"]

LOG = logging.getLogger("zcompute.driver")

_DEVICE_TASKS = {
    Task.ATTACHING_VOLUME,
    Task.DETACHING_VOLUME,
    Task.ATTACHING_INTERFACE,
    Task.DETACHING_INTERFACE,
}
_RESCUE_TASKS = {Task.RESCUING, Task.UNRESCUING}
_RESIZE_TASKS = {Task.RESIZING, Task.REVERTING_RESIZE, Task.CONFIRMING_RESIZE}
_UNPLUG_TIMEOUT = 10.0  # seconds a guest gets to release a device an interrupted attach added


@dataclasses.dataclass(frozen=True)
class RepairReport:
    """What recovery and repair did, one line per finding (empty: all was in order)."""

    actions: tuple[str, ...]


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class Recovery:
    """Recovery of interrupted operations for :class:`~zcompute.driver.ComputeDriver`; every
    operation on an instance asks it first (:class:`~zcompute.driver._operations.Operations`)."""

    def __init__(self, ctx: DriverContext) -> None:
        self._ctx = ctx
        self._guests = Guests(ctx)  # an undone resize starts the guest again

    # -- orphaned tasks ----------------------------------------------------------------------

    def task_is_orphaned(self, inst: Instance) -> bool:
        """Whether ``inst``'s task has no live owner (the caller holds the instance's lock, so
        a task recorded by this very process is a leftover of a failed cleanup)."""
        if inst.task is None:
            return False
        owner = self._ctx.db.task_owner(inst.uuid)
        return owner == this_process() or not owner_alive(owner)

    def recover_if_orphaned(self, inst: Instance) -> Instance:
        """``inst`` after recovering its task if that task's process is gone (its lock held)."""
        if inst.task is None or not self.task_is_orphaned(inst):
            return inst
        LOG.warning("%s", self.recover(inst))
        # NotFound once an interrupted spawn is undone
        return self._ctx.db.get_instance(inst.uuid)

    def recover_interrupted(self) -> RepairReport:
        """Recover every instance whose task's owner is gone."""
        actions: list[str] = []
        for inst in self._ctx.db.orphaned_tasks():
            with self._ctx.locks.hold(inst.name, inst.uuid):
                try:
                    current = self._ctx.db.get_instance(inst.uuid)
                except NotFound:
                    continue
                if current.task is not None and self.task_is_orphaned(current):
                    actions.append(self.recover(current))
        return RepairReport(tuple(actions))

    def undo_partial(self, uuid: str, task: Task, touched: list[tuple[str, str]]) -> bool:
        """A failed operation converges the way an interrupted one does, at once: a device an
        attach added but did not record is detached, a detached one's record dropped, a block
        job a snapshot left is aborted. What cannot be done now is left to the next command.

        Returns False when a rescue or unrescue could not be converged: its task then stays
        recorded, so that the next command recovers it (its record and its definition may
        disagree until then); other tasks end either way."""
        try:
            inst = self._ctx.db.get_instance(uuid)
            for done in self._partial_work(inst, task, touched):
                LOG.warning("instance %s: after the failed %s: %s", inst.name, task.value, done)
        except ZcomputeError as err:
            LOG.error("instance %s: could not undo the failed %s: %s", uuid, task.value, err)
            # a half-removed migrated guest keeps its task: the next command finishes it
            return task not in _RESCUE_TASKS and task is not Task.MIGRATING
        return True

    def _partial_work(
        self, inst: Instance, task: Task, touched: list[tuple[str, str]] | None = None
    ) -> list[str]:
        """Undo what ``task`` left half-done; ``touched``: the devices it changed (None after
        a kill, when nobody knows: then every device is checked)."""
        if task is Task.MIGRATING and not self._ctx.domains.exists(inst.uuid):
            self.remove_guest(inst)  # it moved before the failure: only leftovers are here
            return ["the guest had moved to the other host: its files and record here removed"]
        cold = task in (Task.MIGRATING, Task.INCOMING) and inst.state is InstanceState.SHUTOFF
        if cold and self._ctx.domains.state(inst.uuid) is not PowerState.SHUTOFF:
            # a cold move starts the stopped guest paused to copy its disks: stopped again
            self._ctx.domains.destroy_if_exists(inst.uuid)
            return ["stopped again (a cold move had started it paused)"]
        if task is Task.SNAPSHOTTING:
            return [
                *Quiescer(self._ctx).thaw_after_interrupted_snapshot(inst),
                *self._abort_block_jobs(inst),
                *self._remove_snapshot_copies(inst),
            ]
        if task is Task.SWAPPING_VOLUME:  # after a kill every volume is looked at
            targets = (
                [b.target for b in inst.block_devices]
                if touched is None
                else [key for kind, key in touched if kind == "disk"]
            )
            return [done for t in targets for done in settle_swap(self._ctx, inst.uuid, t)]
        if task in _RESCUE_TASKS:
            return restore_original(self._ctx, Guests(self._ctx), inst)
        if task in _RESIZE_TASKS:
            return self._end_resize(inst, task, touched)
        if task in _DEVICE_TASKS and (touched is None or touched):
            return self._match_devices_to_record(inst, touched)
        return []

    def recover(self, inst: Instance) -> str:
        """Finish or undo ``inst``'s interrupted task (its lock held); says what was done."""
        task = inst.task
        assert task is not None
        LOG.warning("instance %s: recovering its interrupted task %r", inst.name, task.value)
        if task is Task.SPAWNING:
            self.remove_guest(inst)
            return f"{inst.name}: interrupted spawn undone (domain, disks and record removed)"
        if task is Task.DESTROYING:
            self.remove_guest(inst)
            return f"{inst.name}: interrupted delete finished"
        if task is Task.RELEASING:
            self.remove_guest(inst, keep_files=True)
            return f"{inst.name}: interrupted delete finished (its disks kept, as asked)"
        if task in (Task.MIGRATING, Task.INCOMING) and not self._ctx.domains.exists(inst.uuid):
            # a migration's process died: libvirt aborts a client's unfinished migration,
            # so the guest is where its domain is; the other host's side is that host's
            self.remove_guest(inst)
            if task is Task.MIGRATING:
                return f"{inst.name}: interrupted migration had completed (its leftovers removed)"
            return f"{inst.name}: interrupted arrival undone (it never ran here)"
        done = self._partial_work(inst, task)
        self._ctx.record_settled(inst.uuid)
        state = self._ctx.db.get_instance(inst.uuid).state.value
        what = "; ".join(done) or "nothing to undo"
        return f"{inst.name}: interrupted {task.value} recovered ({what}); it is {state}"

    def remove_guest(self, inst: Instance, *, keep_files: bool = False) -> None:
        """Remove the domain, volume connections, files and record of ``inst`` (its folder,
        with its disks, stays when ``keep_files``).

        The record goes last, and only once the domain is gone: a failure here leaves the
        record to name what is still there.
        """
        if self._ctx.domains.exists(inst.uuid):
            self._ctx.domains.destroy_if_exists(inst.uuid)
            fault_point("destroy.stopped")
            self._ctx.domains.undefine(inst.uuid)
            fault_point("destroy.undefined")
        # libvirt leaves a tap NIC's device (managed='no'); an error keeps the record naming it
        recorded = [nic.tap for nic in inst.nics if nic.tap is not None]
        for name in self._ctx.taps.remove_all(inst.uuid, recorded):
            LOG.info("instance %s: tap device %s removed", inst.name, name)
        for problem in release_volume_connections(self._ctx.db, inst.uuid):
            LOG.error("instance %s: could not disconnect volume %s", inst.name, problem)
        remove_instance_secrets(self._ctx, inst.uuid)  # an error keeps the record naming them
        fault_point("destroy.secrets_removed")
        if not keep_files:
            shutil.rmtree(self._ctx.instances_dir / inst.uuid, ignore_errors=True)
        elif inst.rescue is not None:  # the guest's own disks are kept, not the rescue's
            remove_rescue_files(self._ctx.instances_dir / inst.uuid)
        fault_point("destroy.files_removed")
        self._ctx.db.delete_instance(inst.uuid, missing_ok=True)

    def _end_resize(
        self, inst: Instance, task: Task, touched: list[tuple[str, str]] | None
    ) -> list[str]:
        """A resize is undone (only once it began to keep the old state: a resize refused
        before that leaves a pending one alone), a revert finished, a confirm finished."""
        if task is Task.CONFIRMING_RESIZE:
            drop_kept(self._ctx, inst.uuid)
            return ["the state kept for a revert removed"]
        began = touched is None or KEEPING in touched
        if task is Task.REVERTING_RESIZE or began:
            if restore_kept(self._ctx, self._guests, inst.uuid, None):
                return ["the old flavor, disks and definition restored"]
            if task is Task.RESIZING:
                drop_kept(self._ctx, inst.uuid)  # a partial copy
        return start_if_it_ran(self._ctx, self._guests, inst) if task is Task.RESIZING else []

    # -- devices and block jobs --------------------------------------------------------------

    def _match_devices_to_record(
        self, inst: Instance, only: list[tuple[str, str]] | None = None
    ) -> list[str]:
        """Detach devices the record does not list; drop records of devices that are gone
        (``only`` these devices, when given). A rescued guest's definition is the rescue's, without
        its volumes: it is left alone until it is unrescued."""
        if inst.rescue is not None or not self._ctx.domains.exists(inst.uuid):
            return []
        live = self._ctx.observed_state(inst.uuid) in ACTIVE
        docs = [Domain.from_xml(self._ctx.domains.xml(inst.uuid, inactive=True))]
        if live:
            docs.append(Domain.from_xml(self._ctx.domains.xml(inst.uuid)))
        if only is not None:
            disks, nics = {k for t, k in only if t == "disk"}, {k for t, k in only if t == "nic"}
            inst = inst.replace(
                block_devices=tuple(b for b in inst.block_devices if b.target in disks),
                nics=tuple(n for n in inst.nics if n.mac in nics),
            )
            docs = [_only_devices(doc, disks, nics) for doc in docs]
        done: list[str] = []
        done += self._unrecorded_disks(inst, docs, live)
        done += self._unrecorded_nics(inst, docs, live)
        done += self._records_without_device(inst, docs, live)
        done += remove_unused_secrets(self._ctx, inst.uuid)  # those of the whole record
        return done + self._unused_taps(inst.uuid)

    def _unused_taps(self, uuid: str) -> list[str]:
        """Remove the instance's tap devices that neither its record nor its domain has as a
        NIC: an attach cut short after making one, a detach cut short before removing it."""
        keep = {nic.tap for nic in self._ctx.db.get_instance(uuid).nics if nic.tap is not None}
        docs = [Domain.from_xml(self._ctx.domains.xml(uuid, inactive=True))]
        if self._ctx.observed_state(uuid) in ACTIVE:
            docs.append(Domain.from_xml(self._ctx.domains.xml(uuid)))
        keep |= {i.target_dev or "" for doc in docs for i in doc.devices.interfaces}
        removed = self._ctx.taps.remove_all(uuid, (), keep)
        return [f"tap device {name} of no NIC removed" for name in removed]

    def _unrecorded_disks(self, inst: Instance, docs: list[Domain], live: bool) -> list[str]:
        root = self._ctx.root_disk_path(inst.uuid)
        own = [root.with_name(name) for name in (EPHEMERAL_DISK, SWAP_DISK, CONFIG_DRIVE)]
        known = {str(p) for p in (root, *own)} | {str(b.source) for b in inst.block_devices}
        targets = {
            d.target_dev
            for doc in docs
            for d in doc.devices.disks
            if d.target_dev and disk_source_text(d) not in known
        }
        for target in sorted(targets):
            self._force_detach(inst, live, f"disk {target}", disk_with_target(target))
        return [f"unrecorded disk {t} detached" for t in sorted(targets)]

    def _unrecorded_nics(self, inst: Instance, docs: list[Domain], live: bool) -> list[str]:
        known = {n.mac for n in inst.nics}
        macs = {
            (i.mac or "").lower() for doc in docs for i in doc.devices.interfaces if i.mac
        } - known
        for mac in sorted(macs):
            self._force_detach(inst, live, f"NIC {mac}", nic_with_mac(mac))
        return [f"unrecorded NIC {m} detached" for m in sorted(macs)]

    def _records_without_device(self, inst: Instance, docs: list[Domain], live: bool) -> list[str]:
        """A recorded device that the domain lost in one definition (a detach cut short after
        the unplug) or in both: the detach is finished and the record dropped."""
        done = []
        for volume in inst.block_devices:
            sources = [{disk_source_text(d) for d in doc.devices.disks} for doc in docs]
            if all(str(volume.source) in found for found in sources):
                continue
            find = disk_with_target(volume.target)
            self._force_detach(inst, live, f"disk {volume.target}", find)
            # and its host connections (a swap's too): the record is all that names them
            for record in connections_of(self._ctx.db, inst.uuid).get(volume.target, []):
                disconnect_fc(record)
            self._ctx.db.remove_attachment(inst.uuid, "volume", volume.target)
            done.append(f"half-detached disk {volume.target} detached, its record dropped")
        for nic in inst.nics:
            macs = [{(i.mac or "").lower() for i in doc.devices.interfaces} for doc in docs]
            if nic.mac is None or all(nic.mac in found for found in macs):
                continue
            self._force_detach(inst, live, f"NIC {nic.mac}", nic_with_mac(nic.mac))
            self._ctx.db.remove_attachment(inst.uuid, "nic", nic.mac)
            done.append(f"half-detached NIC {nic.mac} detached, its record dropped")
        return done

    def _force_detach(self, inst: Instance, live: bool, what: str, find: DeviceFinder) -> None:
        state = InstanceState.RUNNING if live else InstanceState.SHUTOFF
        op = Operation(inst, state)
        try:
            detach(self._ctx, op, find, what, _UNPLUG_TIMEOUT)
        except ZcomputeError as err:  # the guest did not release it: at least not persistent
            LOG.warning("instance %s: %s stays until it restarts: %s", inst.name, what, err)
            stored = Domain.from_xml(self._ctx.domains.xml(inst.uuid, inactive=True))
            device = find(stored)
            if device is not None:
                self._ctx.domains.detach_device(inst.uuid, device.to_xml(), live=False, config=True)

    def _abort_block_jobs(self, inst: Instance) -> list[str]:
        domains = self._ctx.domains
        if not domains.exists(inst.uuid) or self._ctx.observed_state(inst.uuid) not in ACTIVE:
            return []
        live = Domain.from_xml(domains.xml(inst.uuid))
        done = []
        for disk in live.devices.disks:
            target = disk.target_dev
            if target and domains.block_job_progress(inst.uuid, target) is not None:
                domains.block_job_abort(inst.uuid, target)
                done.append(f"block job on {target} aborted")
        return done

    def _remove_snapshot_copies(self, inst: Instance) -> list[str]:
        copies = sorted((self._ctx.instances_dir / inst.uuid).glob(".snapshot-*.qcow2"))
        for copy in copies:
            with contextlib.suppress(FileNotFoundError):
                copy.unlink()
        return [f"partial snapshot copy {c.name} removed" for c in copies]

    def recover_leftovers(self) -> RepairReport:
        """What every command does first: recover orphaned tasks and remove what killed image
        imports and deletes left behind. Cheap when there is nothing to do (one query, one
        directory listing)."""
        actions = list(self.recover_interrupted().actions)
        removed = self._ctx.images.remove_leftovers()
        actions += [f"image store: leftover {p.name} removed" for p in removed]
        return RepairReport(tuple(actions))

    # -- repair ------------------------------------------------------------------------------

    def repair(self) -> RepairReport:
        """Recover interrupted tasks and reconcile everything zcompute manages on this host."""
        actions = list(self.recover_interrupted().actions)
        for inst in self._ctx.db.list_instances():
            if inst.task is not None:
                continue  # a live operation of another process owns it
            with self._ctx.locks.hold(inst.name, inst.uuid):
                found = [
                    *Quiescer(self._ctx).thaw_after_interrupted_snapshot(inst),
                    *self._abort_block_jobs(inst),
                    *self._match_devices_to_record(inst),
                    *self._settle_swap_journals(inst),
                ]
            actions += [f"{inst.name}: {what}" for what in found]
        recovery = self._ctx.images.recover()
        actions += [f"image store: leftover {p.name} removed" for p in recovery.removed]
        actions += [f"image {i.name}: its files are missing" for i in recovery.missing]
        actions += self._remove_unrecorded_domains()
        actions += self._remove_unrecorded_taps()
        known = {inst.uuid for inst in self._ctx.db.list_instances()}
        actions += remove_unrecorded_secrets(self._ctx, known)
        return RepairReport(tuple(actions))

    def _settle_swap_journals(self, inst: Instance) -> list[str]:
        """The host connections of swaps whose own settle failed (libvirt or a disconnect
        refused): settled as recovery does, the record following the live disk first."""
        journals = self._ctx.db.swap_journals(inst.uuid)
        return [done for t in journals for done in settle_swap(self._ctx, inst.uuid, t)]

    def _remove_unrecorded_domains(self) -> list[str]:
        """Domains whose files live in this data directory but that have no record."""
        known = {inst.uuid for inst in self._ctx.db.list_instances()}
        done = []
        for uuid, name in self._domains_in_data_dir():
            if uuid in known:
                continue
            if self._ctx.domains.exists(uuid):
                self._ctx.domains.destroy_if_exists(uuid)
                self._ctx.domains.undefine(uuid)
            shutil.rmtree(self._ctx.instances_dir / uuid, ignore_errors=True)
            done.append(f"domain {name} had no record: removed with its files")
        return done

    def _remove_unrecorded_taps(self) -> list[str]:
        """Tap devices marked as made for an instance of this data directory without a record
        (a spawn or a delete removes them before the record, so no live operation owns them)."""
        known = {inst.uuid for inst in self._ctx.db.list_instances()}
        done = []
        for name, uuid in sorted(self._ctx.taps.marked().items()):
            if uuid not in known and self._ctx.taps.remove(uuid, name):
                done.append(f"tap device {name} of instance {uuid}, which has no record, removed")
        return done

    def _domains_in_data_dir(self) -> Iterable[tuple[str, str]]:
        """(uuid, name) of every domain whose files (disks, console log) are this data
        directory's: domains of other data directories on the same libvirtd are not ours."""
        for stats in self._ctx.domains.all_stats():
            mine = str(self._ctx.instances_dir / stats.uuid) + "/"
            with contextlib.suppress(NotFound):
                if mine in self._ctx.domains.xml(stats.uuid, inactive=True):
                    yield stats.uuid, stats.name


def _only_devices(doc: Domain, targets: set[str], macs: set[str]) -> Domain:
    """A copy of ``doc`` that keeps only the disks with ``targets`` and NICs with ``macs``."""
    copy = Domain.from_xml(doc.to_xml())
    for disk in list(copy.devices.disks):
        if disk.target_dev not in targets:
            copy.devices.remove(disk)
    for nic in list(copy.devices.interfaces):
        if (nic.mac or "").lower() not in macs:
            copy.devices.remove(nic)
    return copy
