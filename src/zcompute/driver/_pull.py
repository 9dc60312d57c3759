"""A stopped guest fetched from another host: a cold migration driven from the destination.

Nova's cold migration and resize to another host run on the destination after the source
powered the guest off, and zcompute's hosts share no file system: so the destination fetches
the guest's own disks through libvirt. It prepares the guest (:mod:`._incoming`), starts the
source's stopped domain paused (no guest code runs), lets libvirt move it with its disks copied
over NBD, and stops it here. The source keeps its stopped domain, record and disks until the
migration is confirmed (a revert just starts it again there). Any failure leaves the source's
guest as it was (stopped) and nothing here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

from zcompute._faults import fault_point
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._guests import Guests
from zcompute.driver._incoming import Arrival, IncomingOps, Prepared
from zcompute.driver._migrate import (
    MigrationTarget,
    own_disk_targets,
    rewrite_initiator,
    rewrite_paths,
    rewrite_taps,
)
from zcompute.errors import InvalidState, ZcomputeError
from zcompute.model import Instance, InstanceState
from zcompute.virt import Domains, Hypervisor, MigrationRequest, Migrations, PowerState
from zcompute.volumes import VolumeSecrets

__all__ = ["PullOps"]

LOG = logging.getLogger("zcompute.driver")


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class PullOps:
    """The destination's cold migration for :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(self, ctx: DriverContext, guests: Guests, incoming: IncomingOps) -> None:
        self._ctx = ctx
        self._guests = guests
        self._incoming = incoming

    def pull(
        self,
        arrival: Arrival,
        source: MigrationTarget,
        *,
        address: str = "127.0.0.1",
        managed_by: str | None = None,
        keep_source: bool = True,
        secrets: Mapping[str, VolumeSecrets] | None = None,
    ) -> Instance:
        """Fetch the stopped guest ``arrival`` describes from ``source`` (see the module
        docs); returns it as recorded here, stopped. ``address``: this host's address for
        the migration stream; ``keep_source``: the source keeps its stopped domain (for a
        revert), else libvirt removes its definition there; ``secrets``: those of its network
        volumes, by target (see :meth:`~._incoming.IncomingOps.prepare`)."""
        uuid = arrival.instance.uuid
        there = Hypervisor(source.uri)
        try:
            their = Domains(there)
            if their.state(uuid) is not PowerState.SHUTOFF:
                raise InvalidState(f"{arrival.instance.name} runs on its host: stop it first")
            prepared = self._incoming.prepare(arrival, managed_by=managed_by, secrets=secrets)
            try:
                fault_point("pull.prepared")
                self._move(arrival, source, there, address, keep_source, prepared)
            except BaseException:
                with contextlib.suppress(ZcomputeError):
                    their.destroy_if_exists(uuid)  # stopped again if it was started paused
                if not self._ctx.domains.exists(uuid):
                    with contextlib.suppress(ZcomputeError):
                        self._incoming.abandon(uuid)
                    raise
                LOG.warning("instance %s arrived although its cold migration failed", uuid)
            self._ctx.domains.destroy_if_exists(uuid)  # here it is stopped, as it was there
            fault_point("pull.moved")
            return self._incoming.finish(uuid, InstanceState.SHUTOFF)
        finally:
            there.close()

    def _move(
        self,
        arrival: Arrival,
        source: MigrationTarget,
        there: Hypervisor,
        address: str,
        keep_source: bool,
        prepared: Prepared,
    ) -> None:
        uuid = arrival.instance.uuid
        Domains(there).start(uuid, paused=True)
        migrations = Migrations(there)
        here = self._ctx.instances_dir / uuid
        moves = {str(source.instances_dir / uuid): str(here), **prepared.image_moves}
        own = self._incoming.initiator_name()
        live, persist = (
            rewrite_initiator(
                rewrite_taps(
                    rewrite_paths(migrations.domain_xml(uuid, inactive=inactive), moves),
                    prepared.tap_moves,
                ),
                own,
            )
            for inactive in (False, True)
        )
        plan = self._guests.replan(self._ctx.db.get_instance(uuid))
        request = MigrationRequest(
            dest_xml=live,
            persist_xml=persist,
            address=address,
            copy_disks=own_disk_targets(plan, here),
            keep_source=keep_source,
        )
        migrations.migrate(uuid, self._ctx.hv, request)
