"""Resize on this host: a guest gets another flavor, kept revertible until it is confirmed.

:meth:`ResizeOps.resize` checks the new flavor (a smaller root or ephemeral disk is refused,
naming the field) and builds the new definition while the guest still runs as it was; then
it powers the guest off, keeps the old state (:mod:`._resizekept`), grows the root disk
(``qemu-img resize``, the format being the one zcompute made it in) and the ephemeral disk,
makes the swap disk of the new size, records the new flavor, defines the guest anew and
starts it if it ran. NICs (MACs, tap devices), consoles, the config drive and volumes come
from the record, so they keep their identity. The guest sees more vCPUs and memory at once;
a bigger disk is a bigger block device (its file system is the guest's to grow).

:meth:`ResizeOps.confirm_resize` drops the kept state; :meth:`ResizeOps.revert_resize`
restores it: old flavor, old disk content, old definition. A resize that fails or is cut
short is undone the same way (recovery: :meth:`ResizeOps` leaves a task that says so). A cold
migration to this host is a resize with the same flavor.
"""

from __future__ import annotations

import math

from zcompute._faults import fault_point
from zcompute.builder import build_domain_xml
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._guests import Guests, has_root_disk
from zcompute.driver._operations import Operation, Operations
from zcompute.driver._power import DEFAULT_SHUTDOWN_TIMEOUT, PowerOps
from zcompute.driver._resizekept import (
    KEEPING,
    drop_kept,
    keep_old_state,
    kept_state,
    restore_kept,
)
from zcompute.driver._scratch import create_scratch_disk
from zcompute.errors import InvalidInput, InvalidState
from zcompute.images import GIB, grow, virtual_size
from zcompute.model import Flavor, Instance, InstanceState, Task, validate_timeout
from zcompute.plan import EPHEMERAL_DISK, SWAP_DISK, GuestPlan, boots_from_volume, scratch_disks

__all__ = ["ResizeOps"]
_RESIZABLE = {InstanceState.RUNNING, InstanceState.SHUTOFF, InstanceState.CRASHED}
_ENDABLE = set(InstanceState) - {InstanceState.BUILDING}


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class ResizeOps:
    """Resize, confirm and revert for :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(
        self, ctx: DriverContext, ops: Operations, guests: Guests, power: PowerOps
    ) -> None:
        self._ctx = ctx
        self._ops = ops
        self._guests = guests
        self._power = power

    def resize(
        self,
        name_or_uuid: str,
        flavor: str | Flavor,
        *,
        start: bool | None = None,
        timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> Instance:
        """Give the guest ``flavor`` (see the module docs); ``start``: start it afterwards
        (None: if it ran). ``timeout``: seconds it gets to shut down before it is forced off."""
        validate_timeout(timeout)
        new = flavor if isinstance(flavor, Flavor) else self._ctx.db.get_flavor(flavor)
        self._refuse(self._ctx.db.get_instance(name_or_uuid), new)  # before any task is recorded
        with self._ops.run(name_or_uuid, Task.RESIZING, _RESIZABLE, "resize") as op:
            self._refuse(op.instance, new)  # again, under the lock
            plan = self._guests.replan(op.instance.replace(flavor=new))
            xml = build_domain_xml(plan)  # a flavor no guest can have is refused here
            was_running = op.state is InstanceState.RUNNING
            if was_running:
                self._power.stop_guest(op.uuid, timeout)
                fault_point("resize.stopped")
            op.touched.append(KEEPING)
            keep_old_state(self._ctx, op.instance, was_running)
            fault_point("resize.kept")
            self._resize_disks(op, new)
            fault_point("resize.disks")
            self._define(op, new, plan, xml)
            if was_running if start is None else start:
                self._guests.start_and_wait(op.uuid)
                fault_point("resize.started")
        return self._ctx.db.get_instance(op.uuid)

    def confirm_resize(self, name_or_uuid: str) -> Instance:
        """Keep the new flavor: the state kept for a revert is removed."""
        with self._ops.run(
            name_or_uuid, Task.CONFIRMING_RESIZE, _ENDABLE, "confirm the resize of"
        ) as op:
            self._require_pending(op, "confirm")
            drop_kept(self._ctx, op.uuid)
            fault_point("resize_confirm.dropped")
        return self._ctx.db.get_instance(op.uuid)

    def revert_resize(self, name_or_uuid: str, *, start: bool | None = None) -> Instance:
        """Go back to the flavor, disks and definition from before the resize; ``start``:
        start the guest afterwards (None: if it ran before the resize)."""
        with self._ops.run(
            name_or_uuid, Task.REVERTING_RESIZE, _ENDABLE, "revert the resize of"
        ) as op:
            self._require_pending(op, "revert")
            restore_kept(self._ctx, self._guests, op.uuid, start)
        return self._ctx.db.get_instance(op.uuid)

    def pending_resize(self, name_or_uuid: str) -> Flavor | None:
        """The flavor a resize awaiting confirm or revert came from; None if there is none."""
        kept = kept_state(self._ctx, self._ctx.db.get_instance(name_or_uuid).uuid)
        return None if kept is None else kept.flavor

    # -- steps ------------------------------------------------------------------------------

    def _refuse(self, inst: Instance, new: Flavor) -> None:
        """Refuse a resize that cannot be done, before anything changes."""
        if kept_state(self._ctx, inst.uuid) is not None:
            raise InvalidState(
                f"instance {inst.name} has a resize to confirm or revert first; nothing changed"
            )
        old = inst.flavor
        if new.root_gib < old.root_gib:
            raise InvalidInput(
                "flavor.root_gib",
                f"{new.root_gib} GiB would shrink {inst.name}'s root disk of {old.root_gib} GiB",
                f"{old.root_gib} or more",
            )
        if new.ephemeral_gib < old.ephemeral_gib:
            raise InvalidInput(
                "flavor.ephemeral_gib",
                f"{new.ephemeral_gib} GiB would shrink {inst.name}'s ephemeral disk of "
                f"{old.ephemeral_gib} GiB",
                f"{old.ephemeral_gib} or more",
            )
        root = self._ctx.root_disk_path(inst.uuid)
        if old.root_gib == 0 and new.root_gib and root.is_file():  # sized as its image
            needed = math.ceil(virtual_size(root, "qcow2") / GIB)
            if new.root_gib < needed:
                raise InvalidInput(
                    "flavor.root_gib",
                    f"{new.root_gib} GiB would shrink {inst.name}'s root disk of {needed} GiB",
                    f"{needed} or more",
                )

    def _resize_disks(self, op: Operation, new: Flavor) -> None:
        """The guest's own disks, as the new flavor sizes them (the old ones are kept)."""
        folder = self._ctx.instances_dir / op.uuid
        root = self._ctx.root_disk_path(op.uuid)
        if root.is_file():
            if new.root_gib:
                grow(root, "qcow2", new.root_gib * GIB)  # zcompute made it: qcow2
        elif has_root_disk(op.instance.image, new, boots_from_volume(op.instance.block_devices)):
            # a kernel-boot guest gets one now (a guest booting from a volume never does)
            self._ctx.images.create_blank(root, new.root_gib)
        old_sizes = {d.file: d.size for d in scratch_disks(op.instance.flavor)}
        for disk in scratch_disks(new):
            path = folder / disk.file
            if disk.file == EPHEMERAL_DISK and path.is_file():
                grow(path, "raw", disk.size)  # its file system and data stay
            elif old_sizes.get(disk.file) != disk.size or not path.is_file():
                path.unlink(missing_ok=True)  # swap holds nothing across a power-off
                create_scratch_disk(folder, disk)
        if not new.swap_mib:
            (folder / SWAP_DISK).unlink(missing_ok=True)

    def _define(self, op: Operation, new: Flavor, plan: GuestPlan, xml: str) -> None:
        """Record the new flavor and define the guest anew, its files prepared as for a boot."""
        self._guests.prepare_guest_files(self._ctx.instances_dir / op.uuid, plan)
        self._ctx.db.set_flavor(op.uuid, new)
        self._ctx.domains.define(xml)
        fault_point("resize.defined")

    def _require_pending(self, op: Operation, verb: str) -> None:
        if kept_state(self._ctx, op.uuid) is None:
            raise InvalidState(f"instance {op.name} has no resize to {verb}; nothing changed")
