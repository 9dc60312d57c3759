"""Nova's live migration onto zcompute's: the destination prepares, the source moves, one keeps it.

Nova runs a live migration in steps on both compute services; they map onto zcompute's
driver as:

* ``check_can_live_migrate_destination`` (destination): where this host takes guests in: its
  libvirt URI as other hosts reach it, its folders for guests and images, the address for the
  migration stream. Storage is never shared: a guest's own disks are always copied.
* ``get_instance_disk_info`` (source, right before the destination prepares): the guest as
  zcompute records it, with its config drive and console log as they are now
  (:func:`~zcompute.driver.arrival_to_json`), Nova's ``disk_info`` of a block migration.
* ``pre_live_migration`` (destination): zcompute prepares it from that (record, images,
  disks, files, FC connections, tap devices).
* ``live_migration`` (source): zcompute moves it (memory and own disks); Nova's post method on
  success, its recover method when the guest stayed.
* ``post_live_migration_at_destination`` finishes it there; ``rollback_live_migration_at_
  destination`` removes what was prepared; the source's ``cleanup`` removes what is left of it
  here (its domain went with it).

Nova's conductor passes only its own objects between the services, so where the destination
takes the guest in rides in a free-form string field of ``LibvirtLiveMigrateData`` that only
Nova's libvirt driver reads otherwise: ``instance_relative_path``.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from nova import exception, objects

from zcompute.driver import MigrationTarget, arrival_from_json, arrival_to_json
from zcompute.errors import ZcomputeError
from zcompute.model import InstanceState
from zcompute.nova._base import AdapterBase
from zcompute.nova._conf import CONF
from zcompute.nova._errors import nova_errors
from zcompute.nova._volumes import migrating_image, volume_secrets

__all__ = ["LiveMigrateMethods"]

LOG = logging.getLogger(__name__)
_GIB = 1 << 30


class LiveMigrateMethods(AdapterBase):
    """Nova's live-migration steps for this service's guests (see the module docs)."""

    _aborted_lock = threading.Lock()

    def remember_inbound(self, own_uri: str) -> None:
        """Where other hosts reach this one for migrations (libvirt URI, stream address), as
        this service's options say when it starts."""
        self._inbound = (_inbound_uri(own_uri), _inbound_address())

    # -- checks -------------------------------------------------------------------------

    def check_can_live_migrate_destination(
        self,
        context: Any,
        instance: Any,
        src_compute_info: Any,
        dst_compute_info: Any,
        block_migration: Any = False,
        disk_over_commit: Any = False,
    ) -> Any:
        data = objects.LibvirtLiveMigrateData()
        data.block_migration = True  # a guest's own disks move with it: storage is not shared
        data.is_shared_block_storage = False
        data.is_shared_instance_path = False
        data.disk_over_commit = bool(disk_over_commit)
        data.graphics_listen_addr_vnc = "127.0.0.1"
        data.graphics_listen_addr_spice = "127.0.0.1"
        data.serial_listen_addr = None
        uri, address = self._inbound
        data.target_connect_addr = address
        data.supported_perf_events = []
        data.instance_relative_path = json.dumps(
            {
                "uri": uri,
                "instances": str(self.zc.instances_dir),
                "images": str(self.zc.images.images_dir),
                "initiator": self.zc.iscsi_initiator_name(),
            }
        )
        return data

    def cleanup_live_migration_destination_check(self, context: Any, dest_check_data: Any) -> None:
        """Nothing was made by the check."""

    def check_can_live_migrate_source(
        self, context: Any, instance: Any, dest_check_data: Any, block_device_info: Any = None
    ) -> Any:
        self._mine(instance)  # zcompute's move checks the rest, before anything changes
        return dest_check_data

    def get_instance_disk_info(self, instance: Any, block_device_info: Any = None) -> str:
        with self._guest(instance) as uuid:
            return arrival_to_json(self.zc.migration_arrival(uuid))

    # -- the destination ---------------------------------------------------------------------

    def pre_live_migration(
        self,
        context: Any,
        instance: Any,
        block_device_info: Any,
        network_info: Any,
        disk_info: Any,
        migrate_data: Any,
    ) -> Any:
        uuid = str(instance.uuid)
        with nova_errors(uuid):
            arrival = arrival_from_json(str(disk_info))
            if arrival.instance.uuid != uuid:
                raise exception.MigrationPreCheckError(reason="the guest described is another")
            secrets = volume_secrets(context, block_device_info)
            with self._glance.fetched(context, *migrating_image(instance, block_device_info)):
                prepared = self.zc.receive(arrival, managed_by=self.manager, secrets=secrets)
            where = json.loads(str(migrate_data.instance_relative_path))
            where["image_moves"] = dict(prepared.image_moves)  # the source rewrites its XML
            where["tap_moves"] = dict(prepared.tap_moves)
            migrate_data.instance_relative_path = json.dumps(where)
        return migrate_data

    def post_live_migration_at_destination(
        self,
        context: Any,
        instance: Any,
        network_info: Any,
        block_migration: bool = False,
        block_device_info: Any = None,
    ) -> None:
        with self._guest(instance) as uuid:
            state = self.zc.get_info(uuid).state
            arrived = InstanceState.PAUSED if state is InstanceState.PAUSED else state
            self.zc.finish_incoming(uuid, arrived)

    def rollback_live_migration_at_destination(
        self,
        context: Any,
        instance: Any,
        network_info: Any,
        block_device_info: Any,
        destroy_disks: bool = True,
        migrate_data: Any = None,
    ) -> None:
        with nova_errors(str(instance.uuid)):
            self.zc.abandon_incoming(str(instance.uuid))

    # -- the source --------------------------------------------------------------------------

    def live_migration(
        self,
        context: Any,
        instance: Any,
        dest: str,
        post_method: Any,
        recover_method: Any,
        block_migration: bool = False,
        migrate_data: Any = None,
    ) -> None:
        uuid = self._mine(instance)
        where = json.loads(str(migrate_data.instance_relative_path))
        target = MigrationTarget(
            uri=str(where["uri"]),
            instances_dir=Path(where["instances"]),
            images_dir=Path(where["images"]),
            address=str(migrate_data.target_connect_addr or "127.0.0.1"),
            initiator=where.get("initiator"),
            image_moves=_moves(where, "image_moves"),
            tap_moves=_moves(where, "tap_moves"),
        )
        timeout, force_after = _limits(instance)
        try:
            self.zc.move_out(
                uuid,
                target,
                timeout=timeout,
                force_after=force_after,
                postcopy=bool(CONF.libvirt.live_migration_permit_post_copy),
                bandwidth_mib=int(CONF.libvirt.live_migration_bandwidth or 0),
            )
        except ZcomputeError as err:
            aborted = self._take_aborted(uuid)
            LOG.warning("live migration of %s to %s failed: %s", uuid, dest, err)
            status = "cancelled" if aborted else "error"
            recover_method(context, instance, dest, migrate_data, migration_status=status)
            return
        post_method(context, instance, dest, block_migration, migrate_data)

    def live_migration_force_complete(self, instance: Any) -> None:
        with self._guest(instance) as uuid:
            self.zc.force_migration(uuid)

    def live_migration_abort(self, instance: Any) -> None:
        with self._guest(instance) as uuid:
            with self._aborted_lock:
                self._aborted.add(uuid)
            self.zc.abort_migration(uuid)

    def post_live_migration(
        self, context: Any, instance: Any, block_device_info: Any, migrate_data: Any = None
    ) -> None:
        """What stays here of the guest goes with Nova's ``cleanup`` (a destroy)."""

    def post_live_migration_at_source(self, context: Any, instance: Any, network_info: Any) -> None:
        """The guest's tap devices went with what is left of it (``cleanup``)."""

    def rollback_live_migration_at_source(
        self, context: Any, instance: Any, migrate_data: Any
    ) -> None:
        """The guest stayed here as it was: nothing to undo."""

    def _take_aborted(self, uuid: str) -> bool:
        with self._aborted_lock:
            found = uuid in self._aborted
            self._aborted.discard(uuid)
        return found


def _moves(where: dict[str, Any], key: str) -> dict[str, str]:
    return {str(old): str(new) for old, new in (where.get(key) or {}).items()}


def _inbound_uri(own: str) -> str:
    """The libvirt URI other compute hosts reach this host's libvirtd with: ``[zcompute]
    migration_inbound_uri``, else this service's own URI unless it is a local one
    (``qemu:///system``), which becomes ``qemu+tcp://<my_ip>/system``."""
    configured = CONF.zcompute.migration_inbound_uri
    if configured:
        return str(configured)
    if own.startswith("qemu:///"):
        return f"qemu+tcp://{CONF.my_ip}/system"
    return own


def _inbound_address() -> str:
    return str(CONF.libvirt.live_migration_inbound_addr or CONF.my_ip)


def _limits(instance: Any) -> tuple[float, float | None]:
    """Nova's completion timeout (seconds per GiB of memory and disk) and what then happens:
    ``abort`` (a timeout) or ``force_complete`` (forced, with a last deadline later)."""
    flavor = instance.flavor
    gib = max(1.0, (flavor.memory_mb << 20) / _GIB + float(flavor.root_gb or 0))
    seconds = float(CONF.libvirt.live_migration_completion_timeout or 0) * gib or 3600.0
    if str(CONF.libvirt.live_migration_timeout_action) == "force_complete":
        return seconds * 4, seconds
    return seconds, None
