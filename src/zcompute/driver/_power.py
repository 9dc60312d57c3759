"""Power operations: off/on, reboot, pause, suspend, crash dump, and recovery after a host boot.

How a graceful shutdown request reaches a guest (``virDomainShutdown``):

* x86_64: QEMU presses the ACPI power button; the guest's ACPI button driver and acpid (or
  systemd-logind) turn that into a shutdown.
* s390x: QEMU sends an SCLP *signal quiesce* event. Linux calls ``ctrl_alt_del()``: with
  ``kernel.ctrl-alt-del = 1`` (the default) the kernel restarts at once, and QEMU sees the
  stopped guest go away, without the guest's init ever knowing; with ``0`` the kernel sends
  SIGINT to PID 1 (systemd, or zcompute's test init) which shuts down cleanly.

A soft reboot is the same request followed by a fresh start once the guest has powered off (as
Nova does), not libvirt's ``virDomainReboot``: that one resets the guest in place, and an s390x
guest booted from a kernel under TCG hangs in its decompressor after such a reset (QEMU 7.2).
"""

from __future__ import annotations

import dataclasses
import logging

from zcompute.builder import build_domain_xml
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._guests import Guests
from zcompute.driver._operations import Operations
from zcompute.driver._state import ACTIVE, ANY_STOPPED, instance_state, stopped_unexpectedly
from zcompute.errors import InvalidState, NotFound, Timeout, ZcomputeError
from zcompute.model import Instance, InstanceState, Task, validate_timeout
from zcompute.virt import PowerState

LOG = logging.getLogger("zcompute.driver")

__all__ = ["HostBootReport", "PowerOps"]

DEFAULT_SHUTDOWN_TIMEOUT = 60.0
_FORCED_STOP_TIMEOUT = 30.0

RUNNING, PAUSED = InstanceState.RUNNING, InstanceState.PAUSED
SUSPENDED, ERROR = InstanceState.SUSPENDED, InstanceState.ERROR


@dataclasses.dataclass(frozen=True)
class HostBootReport:
    """What :meth:`PowerOps.resume_state_on_host_boot` did, by instance name."""

    started: tuple[str, ...]  # recorded running/paused, found stopped: started again
    running: tuple[str, ...]  # already as recorded
    left: tuple[str, ...]  # not meant to run (stopped, suspended, crashed on purpose)
    busy: tuple[str, ...]  # a task is recorded (maybe another process runs it): not touched
    failed: tuple[tuple[str, str], ...]  # (name, error)


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class PowerOps:
    """The power operations of :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(self, ctx: DriverContext, ops: Operations, guests: Guests) -> None:
        self._ctx = ctx
        self._ops = ops
        self._guests = guests

    def power_off(self, name_or_uuid: str, timeout: float = DEFAULT_SHUTDOWN_TIMEOUT) -> bool:
        """Shut the guest down: ask it, and force it off after ``timeout`` seconds.

        ``timeout=0`` forces it off at once; a paused guest cannot answer, so it is forced off
        at once too. Returns True if the guest shut down by itself, False if it was forced.
        """
        validate_timeout(timeout)
        with self._ops.run(name_or_uuid, Task.POWERING_OFF, ACTIVE, "power off") as op:
            graceful = op.state is RUNNING and timeout > 0 and self._shut_down(op.uuid, timeout)
            if not graceful:
                self._force_off(op.uuid)
            return graceful

    def power_on(self, name_or_uuid: str) -> Instance:
        """Start a stopped (or crashed) guest; a suspended one needs :meth:`resume`."""
        with self._ops.run(name_or_uuid, Task.POWERING_ON, ANY_STOPPED, "power on") as op:
            self._guests.start_and_wait(op.uuid)
        return self._ctx.db.get_instance(op.uuid)

    def reboot(
        self,
        name_or_uuid: str,
        hard: bool = False,
        timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> bool:
        """Reboot the guest; returns True for a soft reboot, False when it was hard.

        Soft (a running guest): ask the guest to shut down, then start it again; a guest that
        has not shut down after ``timeout`` seconds gets a hard reboot instead. Hard (any state
        but building): power off, define the guest again from its record (pinned machine type,
        attached volumes and NICs) and start it; a suspended guest's saved memory is dropped.
        """
        validate_timeout(timeout)
        allowed = {*ACTIVE, *ANY_STOPPED, SUSPENDED, ERROR} if hard else {RUNNING}
        with self._ops.run(name_or_uuid, Task.REBOOTING, allowed, "reboot") as op:
            if not hard and self._shut_down(op.uuid, timeout):
                self._guests.start_and_wait(op.uuid)
                return True
            if not hard:
                LOG.warning("%s did not shut down within %.0f s: hard reboot", op.name, timeout)
            self._guests.recreate(op.instance)
            return False

    def pause(self, name_or_uuid: str) -> Instance:
        """Stop the guest's CPUs; its memory stays in QEMU."""
        with self._ops.run(name_or_uuid, Task.PAUSING, {RUNNING}, "pause") as op:
            self._ctx.domains.suspend(op.uuid)
        return self._ctx.db.get_instance(op.uuid)

    def unpause(self, name_or_uuid: str) -> Instance:
        with self._ops.run(name_or_uuid, Task.UNPAUSING, {PAUSED}, "unpause") as op:
            self._ctx.domains.resume(op.uuid)
        return self._ctx.db.get_instance(op.uuid)

    def suspend(self, name_or_uuid: str) -> Instance:
        """Save the guest's memory to disk (libvirt's managed save) and stop its QEMU."""
        with self._ops.run(name_or_uuid, Task.SUSPENDING, ACTIVE, "suspend") as op:
            self._ctx.domains.managed_save(op.uuid)
        return self._ctx.db.get_instance(op.uuid)

    def resume(self, name_or_uuid: str) -> Instance:
        """Restore a suspended guest from its saved memory (paused if it was saved paused)."""
        with self._ops.run(name_or_uuid, Task.RESUMING, {SUSPENDED}, "resume") as op:
            self._guests.start_and_wait(op.uuid)
        return self._ctx.db.get_instance(op.uuid)

    def trigger_crash_dump(self, name_or_uuid: str) -> None:
        """Inject an NMI: x86 guests see an NMI; on s390x it is the restart interrupt.

        A guest with kdump configured dumps; without, x86 Linux logs "NMI received" and goes
        on, and s390x Linux stops (libvirt then reports it shut off, crashed).
        """
        with self._ops.run(name_or_uuid, None, {RUNNING}, "crash-dump") as op:
            self._ctx.domains.inject_nmi(op.uuid)

    # -- helpers ---------------------------------------------------------------------------

    def stop_guest(self, uuid: str, timeout: float) -> bool:
        """Within another operation: ask the guest to shut down, force it off after
        ``timeout`` seconds (0: at once). True if it shut down by itself."""
        graceful = timeout > 0 and self._shut_down(uuid, timeout)
        if not graceful:
            self._force_off(uuid)
        return graceful

    def _shut_down(self, uuid: str, timeout: float) -> bool:
        """Ask the guest to shut down; True if it powered off within ``timeout`` seconds."""
        try:
            self._ctx.domains.shutdown(uuid)
            self._ctx.domains.wait_state(uuid, {PowerState.SHUTOFF}, timeout)
        except (Timeout, InvalidState):
            return False
        return True

    def _force_off(self, uuid: str) -> None:
        self._ctx.domains.destroy(uuid)
        self._ctx.domains.wait_state(uuid, {PowerState.SHUTOFF}, _FORCED_STOP_TIMEOUT)

    # -- after a host boot -----------------------------------------------------------------

    def resume_state_on_host_boot(self) -> HostBootReport:
        """Bring back every guest that is recorded running or paused but stopped unexpectedly.

        Call it when the host (or libvirtd) comes back. A guest whose libvirt domain stopped
        without anybody asking (host boot, QEMU killed, libvirtd unable to reconnect) or whose
        domain is gone is defined again from its record and started (paused if it was). Guests
        that shut themselves down, crashed or were stopped on purpose are left as they are.
        """
        out: dict[str, list[str]] = {"started": [], "running": [], "left": [], "busy": []}
        failed: list[tuple[str, str]] = []
        for inst in self._ctx.db.list_instances():
            try:
                out[self._resume_one(inst)].append(inst.name)
            except ZcomputeError as err:
                LOG.error("cannot restore instance %s: %s", inst.name, err)
                failed.append((inst.name, str(err)))
        return HostBootReport(
            tuple(out["started"]),
            tuple(out["running"]),
            tuple(out["left"]),
            tuple(out["busy"]),
            tuple(failed),
        )

    def _resume_one(self, inst: Instance) -> str:
        with self._ctx.locks.hold(inst.name, inst.uuid):
            inst = self._ctx.db.get_instance(inst.uuid)
            if inst.task is not None:
                return "busy"
            try:
                live = self._ctx.live_state(inst.uuid)
            except NotFound:
                live = None
            if live is not None and not stopped_unexpectedly(live):
                self._ctx.record_settled(inst.uuid)
                return "running" if instance_state(live) in ACTIVE else "left"
            if inst.state not in ACTIVE:
                if live is None:  # keep the instance usable: define it, stopped
                    plan = self._guests.replan(inst)
                    self._guests.prepare_guest_files(self._ctx.instances_dir / inst.uuid, plan)
                    self._ctx.domains.define(build_domain_xml(plan))
                return "left"
            self._ctx.db.begin_task(inst.uuid, Task.POWERING_ON)
            try:
                self._guests.recreate(inst, paused=inst.state is PAUSED)
            finally:
                self._ctx.record_settled(inst.uuid)
            return "started"
