"""The driver on its host: starting up, learning whether KVM runs, following libvirt's events.

``init_host`` checks libvirt's and QEMU's versions, probes KVM, recovers what interrupted
commands left and reconciles the records with the domains libvirt has. Between commands,
libvirt's lifecycle events keep the recorded power states in step
(:meth:`HostOps.follow_lifecycle_events`).
"""

from __future__ import annotations

import logging

from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._guests import Guests
from zcompute.driver._host import (
    KvmProbe,
    checked_versions,
    dry_run_note,
    host_cpu_model,
    kvm_usable,
)
from zcompute.driver._recovery import Recovery
from zcompute.driver._reports import HostReport
from zcompute.driver._state import settled_state
from zcompute.errors import ZcomputeError
from zcompute.plan import HostView
from zcompute.virt import DomainState, LifecycleEvent, lifecycle_subscription

__all__ = ["HostOps"]

LOG = logging.getLogger("zcompute.driver")


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class HostOps:
    """Host-wide operations of :class:`~zcompute.driver.ComputeDriver` (see the module docs)."""

    def __init__(self, ctx: DriverContext, guests: Guests, recovery: Recovery) -> None:
        self._ctx = ctx
        self._guests = guests
        self._recovery = recovery

    def init_host(self) -> HostReport:
        """Connect, check versions, read the host, and reconcile records with libvirt."""
        ctx = self._ctx
        checked_versions(ctx.hv)  # refuses a libvirt or QEMU older than zcompute's minimum
        self.probe_kvm()
        host = ctx.host
        libvirt_version, qemu_version = ctx.hv.versions()
        interrupted = tuple((i.name, str(i.task)) for i in ctx.db.orphaned_tasks())
        repaired = self._recovery.repair().actions
        unknown, missing = self._reconcile()
        return HostReport(
            libvirt_version=libvirt_version,
            qemu_version=qemu_version,
            arch=host.caps.arch,
            cpu=host_cpu_model(host.caps),
            kvm_usable=host.kvm_usable,
            unknown_domains=unknown,
            records_without_domain=missing,
            interrupted_tasks=interrupted,
            repaired=repaired,
        )

    def probe_kvm(self) -> bool:
        """An explicit step (``init_host``, ``zcompute boot``): learn once whether KVM guests
        really run here, booting the test guest with KVM when nobody knows yet (this may build
        the test image), and remember it. Returns the answer."""
        config = self._ctx.config
        if config.virt_type != "auto":
            return config.virt_type == "kvm"  # configured: nothing to find out
        versions = checked_versions(self._ctx.hv)
        usable = kvm_usable(config.virt_type, config.data_dir, versions, self._probe_kvm)
        self._ctx.learned_kvm(usable)
        return usable

    def dry_run_host(self) -> tuple[HostView, str | None]:
        """The host a dry run plans with (the context's ``host``); the note says when the KVM
        probe's answer is not known yet."""
        host = self._ctx.host  # checks the versions once
        return host, dry_run_note(self._ctx.config, self._ctx.hv.versions())

    def _probe_kvm(self) -> KvmProbe:
        from zcompute.driver._kvmprobe import probe_kvm

        return probe_kvm(self._ctx, self._guests)

    def _reconcile(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Sync recorded power states; report unknown domains and records without a domain."""
        ctx = self._ctx
        stats = {s.uuid: s for s in ctx.domains.all_stats()}
        saved = ctx.domains.managed_save_uuids()
        records = ctx.db.list_instances()
        missing = []
        for inst in records:
            found = stats.get(inst.uuid)
            if found is None:
                missing.append(inst.name)
                continue
            live = DomainState(found.state, found.reason, inst.uuid in saved)
            state = settled_state(inst.state, live)
            if inst.task is None and state != inst.state:
                ctx.db.update_instance(inst.uuid, state=state)
        known = {inst.uuid for inst in records}
        unknown = tuple(sorted(s.name for s in stats.values() if s.uuid not in known))
        for name in missing:
            LOG.warning("instance %s has a record but no libvirt domain", name)
        return unknown, tuple(missing)

    def follow_lifecycle_events(self) -> None:
        """From now on, libvirt's lifecycle events update the recorded power states."""
        self._ctx.hv.subscribe(lifecycle_subscription(self._on_lifecycle))

    def _on_lifecycle(self, uuid: str, event: LifecycleEvent) -> None:
        """Keep recorded power states in step with libvirt's lifecycle events."""
        if event in (LifecycleEvent.DEFINED, LifecycleEvent.UNDEFINED):
            return
        try:
            inst = self._ctx.db.get_instance(uuid)
            if inst.task is None:  # a running operation records its own outcome
                state = settled_state(inst.state, self._ctx.live_state(uuid))
                # written only if no operation recorded an outcome since we read the record:
                # an event handled late must not overwrite a newer state with an older one
                self._ctx.db.record_observed_state(inst, state)
        except ZcomputeError:
            pass  # not ours, or gone already: nothing to record
