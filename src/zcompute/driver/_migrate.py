"""Migration to another zcompute host: the guest, its disks, files and record move; one host has it.

The source checks what it can (a guest that can move: not rescued, no resize pending, a CPU
the destination has), the destination prepares (:mod:`._incoming`),
and libvirt moves the domain: live (memory, and the guest's own disks copied over NBD while
it runs, since storage is not shared) or offline (a stopped guest: its definition; zcompute
copies its disks). The destination runs the guest from the domain XML the source runs, with
the paths that are the destination's (its folder, its image store).

While a live migration runs, its progress is reported; ``timeout`` aborts it, ``force`` makes
it complete: post-copy where the guest may use it, else the guest is paused so that its memory
stops changing (it runs again on the destination). An abort, an error or a kill leaves the
guest running on the source, recorded there, and nothing on the destination; a migration that
completed leaves it on the destination only (the source removes its folder, record, secrets,
tap devices and volume connections).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from zcompute._faults import fault_point
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import ROOT_DISK, DriverContext
from zcompute.driver._cpucompat import cpu_move_problem
from zcompute.driver._guests import Guests
from zcompute.driver._incoming import SENT_FILES, Arrival
from zcompute.driver._operations import Operation, Operations
from zcompute.driver._recovery import Recovery
from zcompute.driver._resizekept import kept_state
from zcompute.driver._state import ACTIVE, ANY_STOPPED
from zcompute.errors import InvalidInput, InvalidState, Timeout, ZcomputeError
from zcompute.model import (
    Instance,
    InstanceState,
    NICSpec,
    Task,
    check_iscsi_name,
    validate_timeout,
)
from zcompute.plan import EPHEMERAL_DISK, SWAP_DISK, GuestPlan
from zcompute.virt import (
    Domains,
    Hypervisor,
    MigrationProgress,
    MigrationRequest,
    Migrations,
    PowerState,
)
from zcompute.volumes import VolumeSecrets

if TYPE_CHECKING:
    from zcompute.driver._driver import ComputeDriver

__all__ = [
    "DEFAULT_MIGRATION_TIMEOUT",
    "MigrationOps",
    "MigrationResult",
    "MigrationTarget",
    "own_disk_targets",
    "rewrite_initiator",
    "rewrite_paths",
    "rewrite_taps",
]

LOG = logging.getLogger("zcompute.driver")
DEFAULT_MIGRATION_TIMEOUT = 1800.0
_POLL = 0.25  # seconds between progress reports
_OWN_DISKS = (ROOT_DISK, EPHEMERAL_DISK, SWAP_DISK)

Progress = Callable[[MigrationProgress], None]


@dataclasses.dataclass(frozen=True)
class MigrationTarget:
    """Where a guest migrates to: the other host's libvirt URI, the folders its zcompute
    keeps guests and images in, and its address for the migration stream."""

    uri: str
    instances_dir: Path
    images_dir: Path
    address: str = "127.0.0.1"
    initiator: str | None = None  # its iSCSI initiator name, which its guests log in with
    # the folder there of each folder of the guest's images here (the destination's answer)
    image_moves: Mapping[str, str] = dataclasses.field(default_factory=dict)
    tap_moves: Mapping[str, str] = dataclasses.field(default_factory=dict)  # renamed taps there

    def __post_init__(self) -> None:
        # what the destination answered goes into domain XML as text: checked here
        if self.initiator is not None:
            check_iscsi_name(self.initiator, "dest.initiator")
        for path in (*self.image_moves, *self.image_moves.values()):
            if not path.startswith("/") or _XML_SPECIAL.intersection(path):
                raise InvalidInput("dest.image_moves", f"{path!r} is not a plain absolute path")
        for name in (*self.tap_moves, *self.tap_moves.values()):
            NICSpec(tap=name)  # checks the name as a NIC's tap device


@dataclasses.dataclass(frozen=True)
class MigrationResult:
    """How a migration went: where the guest is, how long it took, how long it stood still."""

    instance: Instance  # as the destination records it
    seconds: float
    downtime_ms: int
    forced: str | None  # "postcopy" or "paused" when it was forced to complete


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class MigrationOps:
    """The source's migration for :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(
        self, ctx: DriverContext, ops: Operations, guests: Guests, recovery: Recovery
    ) -> None:
        self._ctx = ctx
        self._ops = ops
        self._guests = guests
        self._recovery = recovery
        self._migrations = Migrations(ctx.hv)

    def migrate(
        self,
        name_or_uuid: str,
        dest: ComputeDriver,
        *,
        live: bool = True,
        timeout: float = DEFAULT_MIGRATION_TIMEOUT,
        force_after: float | None = None,
        progress: Progress | None = None,
        address: str = "127.0.0.1",
        postcopy: bool = False,
        bandwidth_mib: int = 0,
        secrets: Mapping[str, VolumeSecrets] | None = None,
    ) -> MigrationResult:
        """Move the guest to ``dest`` (see the module docs). ``force_after``: seconds after
        which a live migration that has not completed is forced to; ``address``: the
        destination's address for the migration stream; ``postcopy``: forcing may switch to
        post-copy (QEMU needs userfaultfd on the destination), else it pauses the guest;
        ``bandwidth_mib``: a limit in MiB/s for the migration stream (0: none);
        ``secrets``: the secrets of its network volumes, by target, which the destination
        defines again (libvirt keeps them private here)."""
        _check_how(timeout, force_after, bandwidth_mib)
        target = MigrationTarget(
            dest.config.uri,
            dest.instances_dir,
            dest.images.images_dir,
            address,
            dest.iscsi_initiator_name(),
        )
        how = _How(live, timeout, force_after, progress, postcopy, bandwidth_mib)
        started = time.monotonic()
        with self._ops.run(name_or_uuid, Task.MIGRATING, how.allowed, how.verb) as op:
            self._refuse_unmovable(op, target)
            forced, downtime = None, 0
            if live:
                prepared = dest.receive(self._arrival(op), secrets=secrets)
                target = dataclasses.replace(
                    target, image_moves=prepared.image_moves, tap_moves=prepared.tap_moves
                )
                state, forced, downtime = self._out(
                    op, target, how, lambda: dest.abandon_incoming(op.uuid)
                )
                moved = dest.finish_incoming(op.uuid, state)
            else:  # the destination fetches the stopped guest through libvirt
                here = MigrationTarget(
                    self._ctx.config.uri, self._ctx.instances_dir, self._ctx.images.images_dir
                )
                moved = dest.pull(
                    self._arrival(op), here, address=address, keep_source=False, secrets=secrets
                )
            fault_point("migrate.finished")
            self._recovery.remove_guest(op.instance)  # its domain is gone: files, record, ...
        return MigrationResult(moved, time.monotonic() - started, downtime, forced)

    def move_out(
        self,
        name_or_uuid: str,
        target: MigrationTarget,
        *,
        timeout: float = DEFAULT_MIGRATION_TIMEOUT,
        force_after: float | None = None,
        progress: Progress | None = None,
        postcopy: bool = False,
        bandwidth_mib: int = 0,
    ) -> tuple[InstanceState, str | None, int]:
        """The source's part of a live migration whose destination another process prepared
        (:meth:`arrival` there, with :meth:`~._incoming.IncomingOps.prepare`) and finishes:
        Nova's steps. Returns the guest's state there, how it was forced, its downtime. The
        record here stays until :meth:`~zcompute.driver.ComputeDriver.destroy` removes what
        is left of the guest (its domain is gone)."""
        _check_how(timeout, force_after, bandwidth_mib)
        how = _How(True, timeout, force_after, progress, postcopy, bandwidth_mib)
        with self._ops.run(name_or_uuid, Task.MIGRATING, how.allowed, how.verb) as op:
            self._refuse_unmovable(op, target)
            return self._out(op, target, how, None)

    def arrival(self, name_or_uuid: str) -> Arrival:
        """What the destination needs to receive the guest (see :class:`Arrival`)."""
        inst = self._ctx.db.get_instance(name_or_uuid)
        with self._ctx.locks.hold(inst.name, inst.uuid):
            return self._arrival_of(inst)

    def abort(self, name_or_uuid: str) -> None:
        """Cancel the migration of the guest that another process runs; the guest stays."""
        inst = self._ctx.db.get_instance(name_or_uuid)
        if inst.task is not Task.MIGRATING:
            raise InvalidState(f"instance {inst.name} is not migrating; nothing changed")
        self._migrations.abort(inst.uuid)

    def force_complete(self, name_or_uuid: str) -> str:
        """Make the migration that another process runs complete (see :meth:`_force`)."""
        inst = self._ctx.db.get_instance(name_or_uuid)
        if inst.task is not Task.MIGRATING:
            raise InvalidState(f"instance {inst.name} is not migrating; nothing changed")
        return self._force(inst.uuid, postcopy=True)

    # -- the steps ------------------------------------------------------------------------

    def _refuse_unmovable(self, op: Operation, target: MigrationTarget) -> None:
        inst = op.instance
        if target.instances_dir == self._ctx.instances_dir:
            raise InvalidInput("dest", "is this host (the same data directory)", "another host")
        if kept_state(self._ctx, inst.uuid) is not None:
            raise InvalidState(f"{inst.name} has a resize to confirm or revert first")
        if inst.serial_port is not None:
            raise InvalidState(f"{inst.name}'s console listens on a TCP port of this host")
        cpu_problem = cpu_move_problem(self._ctx, op, target.uri)  # the profile's CPU rule
        if cpu_problem is not None:
            raise InvalidState(f"{inst.name} cannot move: {cpu_problem}; nothing changed")

    def _arrival(self, op: Operation) -> Arrival:
        return self._arrival_of(self._ctx.db.get_instance(op.uuid))

    def _arrival_of(self, inst: Instance) -> Arrival:
        folder = self._ctx.instances_dir / inst.uuid
        files = {n: _sent(folder / n) for n in SENT_FILES if (folder / n).is_file()}
        boot_image = self._guests.boot_image_for(inst.image)  # the kernel a disk image names
        connections = self._ctx.db.volume_connections(inst.uuid)
        return Arrival(inst, boot_image, files, connections)

    def _out(
        self,
        op: Operation,
        target: MigrationTarget,
        how: _How,
        abandon: Callable[[], object] | None,
    ) -> tuple[InstanceState, str | None, int]:
        """Move the guest to the prepared destination; a failure while it is still here
        abandons the destination's side, one after it left is not one (it is there)."""
        there = Hypervisor(target.uri)
        try:
            forced, downtime = None, 0
            try:
                fault_point("migrate.prepared")
                request = self._request(op, target, how)
                forced, downtime = self._move(op, there, request, how)
            except BaseException:
                if self._ctx.domains.exists(op.uuid):  # the guest is still here
                    if abandon is not None:
                        with contextlib.suppress(ZcomputeError):  # else: the other's recovery
                            abandon()
                    raise
                LOG.warning("instance %s moved although its migration failed", op.uuid)
            fault_point("migrate.moved")
            return self._arrived_state(op, Domains(there), forced), forced, downtime
        finally:
            there.close()

    def _request(self, op: Operation, target: MigrationTarget, how: _How) -> MigrationRequest:
        return MigrationRequest(
            dest_xml=self._xml_for(op, target, inactive=False),
            persist_xml=self._xml_for(op, target, inactive=True),
            address=target.address,
            copy_disks=self._own_disk_targets(op),
            postcopy=how.postcopy,
            bandwidth_mib=how.bandwidth_mib,
        )

    def _move(
        self, op: Operation, there: Hypervisor, request: MigrationRequest, how: _How
    ) -> tuple[str | None, int]:
        """Run libvirt's migration, watching it; returns how it was forced and its downtime."""
        failure: list[BaseException] = []

        def run() -> None:
            try:
                self._migrations.migrate(op.uuid, there, request)
            except BaseException as err:
                failure.append(err)

        worker = threading.Thread(target=run, name=f"migrate-{op.uuid}", daemon=True)
        worker.start()
        forced = self._watch(op.uuid, worker, how)
        worker.join()
        if failure:
            raise failure[0]
        return forced, self._completed_downtime(op.uuid, there)

    def _watch(self, uuid: str, worker: threading.Thread, how: _How) -> str | None:
        started = time.monotonic()
        forced = None
        while worker.is_alive():
            worker.join(_POLL)
            elapsed = time.monotonic() - started
            if not worker.is_alive():
                break
            if elapsed > how.timeout:
                self._migrations.abort(uuid)
                worker.join()
                raise Timeout(f"the migration of {uuid} did not complete in {how.timeout:.0f} s")
            if how.force_after is not None and forced is None and elapsed > how.force_after:
                forced = self._force(uuid, how.postcopy)
            if how.progress is not None:
                found = self._migrations.progress(uuid)
                if found is not None:
                    how.progress(found)
        return forced

    def _force(self, uuid: str, postcopy: bool) -> str:
        """Post-copy if the migration allows it, else pause the guest so that it converges."""
        if postcopy:
            try:
                self._migrations.start_postcopy(uuid)
                return "postcopy"
            except ZcomputeError as err:  # started without post-copy, or QEMU refused it
                LOG.info("instance %s: no post-copy (%s); pausing it to complete", uuid, err)
        self._ctx.domains.suspend(uuid)
        with contextlib.suppress(ZcomputeError):  # paused, it converges at full speed
            self._migrations.unthrottle(uuid)
        return "paused"

    def _completed_downtime(self, uuid: str, there: Hypervisor) -> int:
        try:
            done = Migrations(there).progress(uuid, completed=True)
        except Exception:
            return 0
        return 0 if done is None else done.downtime_ms

    def _arrived_state(self, op: Operation, there: Domains, forced: str | None) -> InstanceState:
        """The guest's state on the destination; one paused only to complete the migration
        runs again. Past the move nothing may fail: the guest is the destination's."""
        if op.state not in ACTIVE:
            return InstanceState.SHUTOFF
        try:
            state = there.state(op.uuid)
            if (
                state is PowerState.PAUSED
                and forced == "paused"
                and op.state is InstanceState.RUNNING
            ):
                there.resume(op.uuid)
                state = PowerState.RUNNING
        except ZcomputeError as err:
            LOG.warning("instance %s: state after its migration unknown: %s", op.uuid, err)
            return op.state
        return InstanceState.PAUSED if state is PowerState.PAUSED else InstanceState.RUNNING

    def _own_disk_targets(self, op: Operation) -> tuple[str, ...]:
        plan = self._guests.replan(self._ctx.db.get_instance(op.uuid))
        return own_disk_targets(plan, self._ctx.instances_dir / op.uuid)

    def _xml_for(self, op: Operation, target: MigrationTarget, *, inactive: bool) -> str:
        """The domain as the source has it, with the paths that are the destination's."""
        xml = self._migrations.domain_xml(op.uuid, inactive=inactive)
        moves = {str(self._ctx.instances_dir / op.uuid): str(target.instances_dir / op.uuid)}
        moves.update(target.image_moves)
        xml = rewrite_taps(rewrite_paths(xml, moves), target.tap_moves)
        return rewrite_initiator(xml, target.initiator)


def own_disk_targets(plan: GuestPlan, folder: Path) -> tuple[str, ...]:
    """The targets of a guest's own disks in its ``folder``, which QEMU copies when it moves
    (its config drive, read-only, travels as a file; volumes are the storage's)."""
    return tuple(
        d.target
        for d in plan.disks
        if d.source.startswith(f"{folder}/") and d.source.rsplit("/", 1)[-1] in _OWN_DISKS
    )


def rewrite_paths(xml: str, moves: Mapping[str, str]) -> str:
    """A domain's XML with each folder ``old`` (as a path prefix) replaced by ``new``: the
    same guest with the paths of another host."""
    for old, new in moves.items():
        xml = xml.replace(f"{old}/", f"{new}/")
    return xml


_XML_SPECIAL = frozenset("<>&'\"")
_INITIATOR_IQN = re.compile(r"(<initiator>\s*<iqn name=)(['\"])[^'\"]*\2")


def rewrite_taps(xml: str, moves: Mapping[str, str]) -> str:
    """A domain's XML whose tap NICs open the devices ``moves`` renames."""
    for old, new in moves.items():
        xml = re.sub(rf"(<target dev=)(['\"]){re.escape(old)}\2", rf"\1'{new}'", xml)
    return xml


def rewrite_initiator(xml: str, initiator: str | None) -> str:
    """A domain's XML whose iSCSI disks log in with ``initiator`` (another host's name);
    unchanged for None."""
    if initiator is None:
        return xml
    return _INITIATOR_IQN.sub(lambda m: f"{m.group(1)}'{initiator}'", xml)


@dataclasses.dataclass(frozen=True)
class _How:
    """How a migration runs (checked by :func:`_check_how`)."""

    live: bool
    timeout: float
    force_after: float | None
    progress: Progress | None
    postcopy: bool
    bandwidth_mib: int

    @property
    def allowed(self) -> frozenset[InstanceState]:
        return frozenset(ACTIVE if self.live else ANY_STOPPED)

    @property
    def verb(self) -> str:
        return "live-migrate" if self.live else "migrate"


def _check_how(timeout: float, force_after: float | None, bandwidth_mib: int) -> None:
    validate_timeout(timeout)
    if force_after is not None:
        validate_timeout(force_after)
    if isinstance(bandwidth_mib, bool) or not isinstance(bandwidth_mib, int) or bandwidth_mib < 0:
        raise InvalidInput("bandwidth_mib", f"invalid {bandwidth_mib!r}", "MiB/s >= 0 (0: none)")


_SENT_MAX = 4 << 20  # bytes of a file sent along; a longer console log keeps head and tail


def _sent(path: Path) -> bytes:
    """A small file of the folder as the destination gets it: a console log longer than
    :data:`_SENT_MAX` keeps its first half (the earliest boot messages) and its last."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size <= _SENT_MAX:
            return handle.read()
        half = _SENT_MAX // 2
        head = handle.read(half)
        handle.seek(size - half)
        tail = handle.read()
    gap = f"\n[zcompute: {size - 2 * half} bytes of this log stayed on the source host]\n"
    return head + gap.encode() + tail
