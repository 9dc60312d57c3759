"""Resize and cold migration: Nova's four steps onto zcompute's resize, and its cold move.

Nova resizes in steps on the source and destination services. With both this service
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

To another host: ``migrate_disk_and_power_off`` powers the guest off and hands Nova (as its
``disk_info``) the guest as zcompute records it and where the source's libvirt is; the
destination's ``finish_migration`` fetches it (:meth:`~zcompute.driver.ComputeDriver.pull`:
its own disks copied through libvirt, no shared file system), resizes it to the new flavor
and starts it. The source keeps its stopped guest: ``confirm_migration`` removes it there, a
revert (the destination's guest destroyed) starts it again (``finish_revert_migration``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nova import exception, objects
from nova.compute import task_states

from zcompute.driver import MigrationTarget, arrival_from_json, arrival_to_json
from zcompute.nova._base import OFF_STATES, AdapterBase
from zcompute.nova._errors import nova_errors
from zcompute.nova._translate import flavor_of
from zcompute.nova._volumes import migrating_image, volume_secrets

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
        other = self._other_host(context, instance, dest)
        with self._guest(instance) as uuid:
            arrival = self.zc.migration_arrival(uuid) if other else None  # movable? else: no
            if self.zc.get_info(uuid).state not in OFF_STATES:
                self.zc.power_off(uuid, timeout=timeout)
        if arrival is None:
            return ""  # the disks stay here: nothing for finish_migration to fetch
        return json.dumps(
            {
                "arrival": arrival_to_json(self.zc.migration_arrival(uuid)),
                "source": {
                    "uri": self._inbound[0],
                    "instances": str(self.zc.instances_dir),
                    "images": str(self.zc.images.images_dir),
                },
            }
        )

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
            self._fetch(context, instance, disk_info, block_device_info, resize_instance, power_on)
            return
        with self._guest(instance) as uuid:
            # instance.flavor is the new flavor now (a cold migration: the same one)
            self.zc.resize(uuid, flavor_of(instance.flavor), start=power_on, timeout=0)

    def confirm_migration(
        self, context: Any, migration: Any, instance: Any, network_info: Any
    ) -> None:
        if migration.source_compute != migration.dest_compute:
            if self._owns(instance.uuid):  # the source's stopped guest, kept for a revert
                with nova_errors(instance.uuid):
                    self.zc.destroy(instance.uuid)
            return
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

    def _fetch(
        self,
        context: Any,
        instance: Any,
        disk_info: Any,
        block_device_info: Any,
        resize: bool,
        power_on: bool,
    ) -> None:
        """The destination's part of a move to another host (see the module docs)."""
        uuid = str(instance.uuid)
        with nova_errors(uuid):
            data = json.loads(str(disk_info))
            where = data["source"]
            source = MigrationTarget(
                uri=str(where["uri"]),
                instances_dir=Path(where["instances"]),
                images_dir=Path(where["images"]),
            )
            arrival = arrival_from_json(str(data["arrival"]))
            with self._glance.fetched(context, *migrating_image(instance, block_device_info)):
                self.zc.pull(
                    arrival,
                    source,
                    address=self._inbound[1],
                    managed_by=self.manager,
                    secrets=volume_secrets(context, block_device_info),
                )
            if resize:  # instance.flavor is the new flavor now
                self.zc.resize(uuid, flavor_of(instance.flavor), start=False, timeout=0)
                self.zc.confirm_resize(uuid)  # a revert starts the source's guest instead
            if power_on:
                self.zc.power_on(uuid)

    def _other_host(self, context: Any, instance: Any, dest: str) -> bool:
        """Whether the resize or cold migration goes to another host."""
        try:
            migration = objects.Migration.get_by_instance_and_status(
                context.elevated(), instance.uuid, "migrating"
            )
        except exception.MigrationNotFoundByStatus:
            return bool(dest != self.get_host_ip_addr())
        return bool(migration.dest_compute != self._host)
