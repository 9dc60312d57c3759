"""Migration between two hypervisors: libvirt's ``migrate3``, its job's progress and its end.

The migration is client-driven (not peer-to-peer): this process holds both connections, so a
migration whose process dies is aborted by libvirt (its connection-close cleanup) and the
guest keeps running on the source. A live migration copies memory (and, for storage that is
not shared, the named disks over NBD onto disks the destination has prepared: incremental,
the backing chain is there already); an offline one moves only the definition.
"""

from __future__ import annotations

import dataclasses

import libvirt

from zcompute.virt._connection import Hypervisor
from zcompute.virt._domains import Domains
from zcompute.virt._errors import libvirt_errors

__all__ = ["MigrationProgress", "MigrationRequest", "Migrations"]


@dataclasses.dataclass(frozen=True)
class MigrationRequest:
    """One migration: the domain as the destination runs and keeps it, and how data moves.

    ``address``: the destination's address that QEMU's migration stream and NBD use (and its
    incoming QEMU listens on); ``copy_disks``: targets of disks copied while the guest runs
    (storage not shared), each onto a disk the destination made over the same backing chain.
    ``postcopy``: the migration may be switched to post-copy (to force it to complete).
    """

    dest_xml: str
    persist_xml: str
    address: str = "127.0.0.1"
    copy_disks: tuple[str, ...] = ()
    live: bool = True
    postcopy: bool = False
    bandwidth_mib: int = 0  # MiB/s; 0: libvirt's default (unlimited)
    keep_source: bool = False  # the source keeps the (stopped) domain's definition


@dataclasses.dataclass(frozen=True)
class MigrationProgress:
    """A migration job as libvirt reports it (bytes; milliseconds)."""

    elapsed_ms: int
    data_total: int
    data_processed: int
    data_remaining: int
    memory_remaining: int
    disk_remaining: int
    dirty_rate: int  # pages per second the guest dirties
    iteration: int  # memory passes so far
    downtime_ms: int  # known once the migration completed

    @property
    def percent(self) -> float:
        if self.data_total <= 0:
            return 0.0
        return 100.0 * (self.data_total - self.data_remaining) / self.data_total


class Migrations:
    """Migrations of one source :class:`Hypervisor`'s domains."""

    def __init__(self, source: Hypervisor) -> None:
        self._domains = Domains(source)

    def migrate(self, uuid: str, dest: Hypervisor, request: MigrationRequest) -> None:
        """Move domain ``uuid`` to ``dest``; returns once it runs (or is defined) there and is
        gone here. libvirt's error (an abort included) leaves it on the source."""
        flags = libvirt.VIR_MIGRATE_PERSIST_DEST
        if not request.keep_source:
            flags |= libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
        params: dict[str, object] = {
            libvirt.VIR_MIGRATE_PARAM_DEST_XML: request.dest_xml,
            libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: request.persist_xml,
        }
        if request.live:
            flags |= libvirt.VIR_MIGRATE_LIVE
            params[libvirt.VIR_MIGRATE_PARAM_URI] = f"tcp://{_host(request.address)}"
            params[libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS] = request.address
            if request.bandwidth_mib:
                params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = request.bandwidth_mib
            if request.postcopy:
                flags |= libvirt.VIR_MIGRATE_POSTCOPY
            if request.copy_disks:
                flags |= libvirt.VIR_MIGRATE_NON_SHARED_INC
                params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = list(request.copy_disks)
                params[libvirt.VIR_MIGRATE_PARAM_DISKS_URI] = f"tcp://{_host(request.address)}"
        else:
            flags |= libvirt.VIR_MIGRATE_OFFLINE
        with libvirt_errors(f"migration of {uuid}"):
            self._domains.lookup(uuid).migrate3(dest.conn, params, flags)

    def progress(self, uuid: str, *, completed: bool = False) -> MigrationProgress | None:
        """The running migration's progress (``completed``: the last one's final figures);
        None when there is no such job."""
        flags = libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED if completed else 0
        with libvirt_errors(uuid):
            stats = self._domains.lookup(uuid).jobStats(flags)
        if (
            not stats
            or stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE
        ):
            return None

        def value(key: str) -> int:
            return int(stats.get(key, 0) or 0)

        return MigrationProgress(
            elapsed_ms=value("time_elapsed"),
            data_total=value("data_total"),
            data_processed=value("data_processed"),
            data_remaining=value("data_remaining"),
            memory_remaining=value("memory_remaining"),
            disk_remaining=value("disk_remaining"),
            dirty_rate=value("memory_dirty_rate"),
            iteration=value("memory_iteration"),
            downtime_ms=value("downtime"),
        )

    def domain_xml(self, uuid: str, *, inactive: bool) -> str:
        """The domain's XML as a migration gives it to another host (``inactive``: its
        persistent definition)."""
        flags = libvirt.VIR_DOMAIN_XML_MIGRATABLE
        if inactive:
            flags |= libvirt.VIR_DOMAIN_XML_INACTIVE
        with libvirt_errors(uuid):
            return str(self._domains.lookup(uuid).XMLDesc(flags))

    def abort(self, uuid: str) -> None:
        """Cancel the running migration of ``uuid``; the guest stays on the source."""
        with libvirt_errors(f"migration of {uuid}"):
            self._domains.lookup(uuid).abortJob()

    def unthrottle(self, uuid: str) -> None:
        """Let the running migration use all the bandwidth there is (to complete it)."""
        with libvirt_errors(f"migration of {uuid}"):
            self._domains.lookup(uuid).migrateSetMaxSpeed(_UNLIMITED_MIB, 0)

    def start_postcopy(self, uuid: str) -> None:
        """Switch the running migration to post-copy: the guest runs on the destination from
        now on and fetches the rest of its memory from the source."""
        with libvirt_errors(f"migration of {uuid}"):
            self._domains.lookup(uuid).migrateStartPostCopy(0)


_UNLIMITED_MIB = 1 << 20  # MiB/s: more than any link; libvirt's way to lift a limit


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
