"""Resize and cold migration, on this host only: Nova's four steps onto zcompute's resize.

Nova resizes in steps on the source and destination services; with both this service
(``allow_resize_to_same_host = True``, or a cold migration to the same host, which sets
``supports_migrate_to_same_host``) they map onto zcompute's driver as:

* ``migrate_disk_and_power_off``: the guest is powered off (``timeout``: its chance to shut
  down cleanly); its disks stay where they are, so there is nothing to transfer;
* ``finish_migration``: :meth:`~zcompute.driver.ComputeDriver.resize` to the new flavor
  (the old disks, flavor and definition are kept), started if Nova says so;
* ``confirm_migration``: the kept state is dropped;
* ``finish_revert_migration``: the kept state is restored (old flavor, disk content,
  definition), started if Nova says so. Nova's ``revert_resize`` first destroys the guest "on
  the destination": for a guest whose resize is being reverted the adapter's ``destroy``
  leaves it to this step (:func:`reverting_here`).

Another destination host is refused before anything changes (migration between hosts needs
the disks copied there: not yet).
"""

from __future__ import annotations

from typing import Any

from nova import exception, objects
from nova.compute import task_states

from zcompute.nova._base import OFF_STATES, AdapterBase
from zcompute.nova._errors import nova_errors
from zcompute.nova._translate import flavor_of

__all__ = ["MigrateMethods", "reverting_here"]


def reverting_here(adapter: AdapterBase, instance: Any) -> bool:
    """Whether Nova is reverting a resize of this service's guest ``instance`` (its destroy
    then must keep the guest: ``finish_revert_migration`` restores it)."""
    if instance.task_state != task_states.RESIZE_REVERTING:
        return False
    with nova_errors(instance.uuid):
        return adapter.zc.pending_resize(instance.uuid) is not None


class MigrateMethods(AdapterBase):
    """Nova's resize and cold migration of this service's guests, to this same host."""

    def migrate_disk_and_power_off(
        self,
        context: Any,
        instance: Any,
        dest: str,
        flavor: Any,
        network_info: Any,
        block_device_info: Any = None,
        timeout: int = 0,
        retry_interval: int = 0,
    ) -> str:
        self._refuse_other_host(context, instance, dest)
        with self._guest(instance) as uuid:
            if self.zc.get_info(uuid).state not in OFF_STATES:
                self.zc.power_off(uuid, timeout=timeout)
        return ""  # the disks stay here: nothing for finish_migration to fetch

    def finish_migration(
        self,
        context: Any,
        migration: Any,
        instance: Any,
        disk_info: Any,
        network_info: Any,
        image_meta: Any,
        resize_instance: bool,
        allocations: Any,
        block_device_info: Any = None,
        power_on: bool = True,
        share_info: Any = None,
    ) -> None:
        if migration.source_compute != migration.dest_compute:
            raise exception.MigrationError(reason=_other_host(migration.dest_compute))
        with self._guest(instance) as uuid:
            # instance.flavor is the new flavor now (a cold migration: the same one)
            self.zc.resize(uuid, flavor_of(instance.flavor), start=power_on, timeout=0)

    def confirm_migration(
        self, context: Any, migration: Any, instance: Any, network_info: Any
    ) -> None:
        with self._guest(instance) as uuid:
            if self.zc.pending_resize(uuid) is not None:  # a confirm Nova repeats: done
                self.zc.confirm_resize(uuid)

    def finish_revert_migration(
        self,
        context: Any,
        instance: Any,
        network_info: Any,
        migration: Any,
        block_device_info: Any = None,
        power_on: bool = True,
        share_info: Any = None,
    ) -> None:
        with self._guest(instance) as uuid:
            if self.zc.pending_resize(uuid) is not None:
                self.zc.revert_resize(uuid, start=power_on)
            elif power_on and self.zc.get_info(uuid).state in OFF_STATES:
                self.zc.power_on(uuid)  # reverted already (a repeated call): as Nova asks

    def _refuse_other_host(self, context: Any, instance: Any, dest: str) -> None:
        """A resize or cold migration to another host: refused, Nova rolls back cleanly."""
        try:
            migration = objects.Migration.get_by_instance_and_status(
                context.elevated(), instance.uuid, "migrating"
            )
        except exception.MigrationNotFoundByStatus:
            other = dest != self.get_host_ip_addr()
            target = dest
        else:
            other = migration.dest_compute != self._host
            target = migration.dest_compute
        if other:
            raise exception.InstanceFaultRollback(
                inner_exception=exception.ResizeError(reason=_other_host(target))
            )


def _other_host(target: str) -> str:
    return (
        f"zcompute resizes and migrates on the same host only; {target} is another host "
        "(migration between hosts is not implemented yet)"
    )
