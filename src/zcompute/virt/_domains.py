"""Domain operations: every libvirt call on guests, returning plain Python data.

libvirt's objects stay inside this module; callers name domains by UUID and get back
strings, enums and dataclasses, so nothing outside :mod:`zcompute.virt` needs libvirt.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import time
from dataclasses import dataclass

import libvirt

from zcompute.errors import InvalidState, NotFound, Timeout
from zcompute.virt._connection import Hypervisor
from zcompute.virt._errors import libvirt_errors


class PowerState(enum.StrEnum):
    """A guest's power state, libvirt's ``virDomainState`` by name."""

    NOSTATE = "nostate"
    RUNNING = "running"
    BLOCKED = "blocked"
    PAUSED = "paused"
    SHUTDOWN = "shutting-down"
    SHUTOFF = "shutoff"
    CRASHED = "crashed"
    PMSUSPENDED = "pmsuspended"


_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.BLOCKED,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.PMSUSPENDED,
}


def power_state(code: int) -> PowerState:
    return _STATES.get(code, PowerState.NOSTATE)


# Why a guest is in its state (libvirt's per-state reason enums), by name. Only the reasons of the
# states zcompute acts on are named; any other reason reads "unknown".
_REASONS: dict[int, dict[int, str]] = {
    libvirt.VIR_DOMAIN_RUNNING: {
        libvirt.VIR_DOMAIN_RUNNING_BOOTED: "booted",
        libvirt.VIR_DOMAIN_RUNNING_MIGRATED: "migrated",
        libvirt.VIR_DOMAIN_RUNNING_RESTORED: "restored",
        libvirt.VIR_DOMAIN_RUNNING_FROM_SNAPSHOT: "from-snapshot",
        libvirt.VIR_DOMAIN_RUNNING_UNPAUSED: "unpaused",
        libvirt.VIR_DOMAIN_RUNNING_WAKEUP: "wakeup",
        libvirt.VIR_DOMAIN_RUNNING_CRASHED: "crashed",
    },
    libvirt.VIR_DOMAIN_PAUSED: {
        libvirt.VIR_DOMAIN_PAUSED_USER: "user",
        libvirt.VIR_DOMAIN_PAUSED_MIGRATION: "migration",
        libvirt.VIR_DOMAIN_PAUSED_SAVE: "save",
        libvirt.VIR_DOMAIN_PAUSED_DUMP: "dump",
        libvirt.VIR_DOMAIN_PAUSED_IOERROR: "ioerror",
        libvirt.VIR_DOMAIN_PAUSED_WATCHDOG: "watchdog",
        libvirt.VIR_DOMAIN_PAUSED_SHUTTING_DOWN: "shutting-down",
        libvirt.VIR_DOMAIN_PAUSED_SNAPSHOT: "snapshot",
        libvirt.VIR_DOMAIN_PAUSED_CRASHED: "crashed",
        libvirt.VIR_DOMAIN_PAUSED_STARTING_UP: "starting-up",
    },
    libvirt.VIR_DOMAIN_SHUTOFF: {
        libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN: "shutdown",
        libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED: "destroyed",
        libvirt.VIR_DOMAIN_SHUTOFF_CRASHED: "crashed",
        libvirt.VIR_DOMAIN_SHUTOFF_MIGRATED: "migrated",
        libvirt.VIR_DOMAIN_SHUTOFF_SAVED: "saved",
        libvirt.VIR_DOMAIN_SHUTOFF_FAILED: "failed",
        libvirt.VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT: "from-snapshot",
        libvirt.VIR_DOMAIN_SHUTOFF_DAEMON: "daemon",
    },
    libvirt.VIR_DOMAIN_CRASHED: {libvirt.VIR_DOMAIN_CRASHED_PANICKED: "panicked"},
}


def state_reason(code: int, reason: int) -> str:
    """libvirt's reason for a guest being in state ``code``, by name ("unknown" if unnamed)."""
    return _REASONS.get(code, {}).get(reason, "unknown")


@dataclass(frozen=True)
class DomainState:
    """A guest's power state, why it is in it, and whether a managed save image waits."""

    state: PowerState
    reason: str
    managed_save: bool = False


@dataclass(frozen=True)
class DomainStats:
    """What ``get_info`` reports for one guest (from ``getAllDomainStats``)."""

    uuid: str
    name: str
    state: PowerState
    max_memory_kib: int
    memory_kib: int
    vcpus: int
    cpu_time_ns: int
    reason: str = "unknown"


_STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_BALLOON
)


_UNDEFINE_BASIC = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
)


class Domains:
    """Guest operations on one :class:`Hypervisor`."""

    def __init__(self, hypervisor: Hypervisor) -> None:
        self.hv = hypervisor

    def _lookup(self, uuid: str) -> libvirt.virDomain:
        with libvirt_errors(uuid):
            try:
                return self.hv.conn.lookupByUUIDString(uuid)
            except libvirt.libvirtError as err:
                if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    raise NotFound("domain", uuid) from err
                raise

    def lookup(self, uuid: str) -> libvirt.virDomain:
        """The libvirt domain (for the boundary's other modules); NotFound when there is none."""
        return self._lookup(uuid)

    def exists(self, uuid: str) -> bool:
        try:
            self._lookup(uuid)
        except NotFound:
            return False
        return True

    def uuid_of(self, name: str) -> str | None:
        """The UUID of the domain named ``name``, or None."""
        with libvirt_errors(name):
            try:
                return str(self.hv.conn.lookupByName(name).UUIDString())
            except libvirt.libvirtError as err:
                if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    return None
                raise

    def define(self, xml: str, *, validate: bool = False) -> str:
        """Define (persistently) the domain in ``xml``; returns its UUID.

        libvirt's parser always checks the document; ``validate`` adds its RelaxNG schema
        pass, which costs ~8 ms per define in libvirtd. zcompute's builder output is schema-
        checked by its tests, so spawn skips it; XML from elsewhere should set it.
        """
        flags = libvirt.VIR_DOMAIN_DEFINE_VALIDATE if validate else 0
        with libvirt_errors("domain XML"):
            return str(self.hv.conn.defineXMLFlags(xml, flags).UUIDString())

    def create_transient(self, xml: str) -> str:
        """Start a transient domain (gone once it stops); returns its UUID."""
        with libvirt_errors("domain XML"):
            return str(self.hv.conn.createXML(xml, libvirt.VIR_DOMAIN_START_VALIDATE).UUIDString())

    def destroy_if_exists(self, uuid: str) -> None:
        with contextlib.suppress(NotFound):
            self.destroy(uuid)

    def start(self, uuid: str, *, paused: bool = False) -> None:
        flags = libvirt.VIR_DOMAIN_START_PAUSED if paused else 0
        with libvirt_errors(uuid):
            self._lookup(uuid).createWithFlags(flags)

    def state(self, uuid: str) -> PowerState:
        with libvirt_errors(uuid):
            code, _reason = self._lookup(uuid).state()
        return power_state(code)

    def state_detail(self, uuid: str) -> DomainState:
        """The power state with libvirt's reason, and whether a managed save image exists."""
        with libvirt_errors(uuid):
            dom = self._lookup(uuid)
            code, reason = dom.state()
            saved = code == libvirt.VIR_DOMAIN_SHUTOFF and bool(dom.hasManagedSaveImage(0))
        return DomainState(power_state(code), state_reason(code, reason), saved)

    def xml(self, uuid: str, *, inactive: bool = False) -> str:
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
        with libvirt_errors(uuid):
            return str(self._lookup(uuid).XMLDesc(flags))

    def wait_state(self, uuid: str, wanted: set[PowerState], timeout: float) -> PowerState:
        deadline = time.monotonic() + timeout
        while True:
            state = self.state(uuid)
            if state in wanted or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if state not in wanted:
            names = ", ".join(sorted(wanted))
            raise Timeout(f"domain {uuid} is {state}, not {names}, after {timeout} s")
        return state

    def destroy(self, uuid: str) -> None:
        """Power the guest off at once; a guest that is not running is left as it is."""
        with libvirt_errors(uuid):
            dom = self._lookup(uuid)
            try:
                dom.destroy()
            except libvirt.libvirtError as err:
                if err.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                    raise

    def undefine(self, uuid: str) -> None:
        """Remove the definition with its managed save, NVRAM and snapshot metadata."""
        flags = (
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
        )
        # a domain that is gone, also between the lookup and the undefine, is what we want
        with contextlib.suppress(NotFound), libvirt_errors(uuid):
            dom = self._lookup(uuid)
            try:
                dom.undefineFlags(flags)
            except libvirt.libvirtError as err:
                if err.get_error_code() != libvirt.VIR_ERR_INVALID_ARG:
                    raise
                # A driver without NVRAM or checkpoints (libvirt's test driver) rejects
                # those flags; its domains have neither, so undefine without them.
                dom.undefineFlags(_UNDEFINE_BASIC)

    def shutdown(self, uuid: str) -> None:
        """Ask the guest to shut down (ACPI on x86, SCLP signal quiesce on s390x)."""
        with libvirt_errors(uuid):
            self._lookup(uuid).shutdown()

    def reboot(self, uuid: str) -> None:
        """Ask the guest to reboot itself."""
        with libvirt_errors(uuid):
            self._lookup(uuid).reboot(0)

    def suspend(self, uuid: str) -> None:
        with libvirt_errors(uuid):
            self._lookup(uuid).suspend()

    def resume(self, uuid: str) -> None:
        with libvirt_errors(uuid):
            self._lookup(uuid).resume()

    def managed_save(self, uuid: str) -> None:
        with libvirt_errors(uuid):
            self._lookup(uuid).managedSave(0)

    def has_managed_save(self, uuid: str) -> bool:
        with libvirt_errors(uuid):
            return bool(self._lookup(uuid).hasManagedSaveImage(0))

    def remove_managed_save(self, uuid: str) -> None:
        """Discard the guest's managed save image (its saved memory), if it has one."""
        with libvirt_errors(uuid):
            dom = self._lookup(uuid)
            if dom.hasManagedSaveImage(0):
                dom.managedSaveRemove(0)

    def inject_nmi(self, uuid: str) -> None:
        with libvirt_errors(uuid):
            dom = self._lookup(uuid)
            if not dom.isActive():
                raise InvalidState(f"domain {uuid} is not running")
            dom.injectNMI(0)

    def attach_device(self, uuid: str, xml: str, *, live: bool, config: bool) -> None:
        with libvirt_errors("device XML"):
            self._lookup(uuid).attachDeviceFlags(xml, _affect(live, config))

    def detach_device(self, uuid: str, xml: str, *, live: bool, config: bool) -> None:
        with libvirt_errors("device XML"):
            self._lookup(uuid).detachDeviceFlags(xml, _affect(live, config))

    def block_copy(self, uuid: str, disk: str, dest_xml: str, *, reuse: bool = False) -> None:
        """Start mirroring disk ``disk`` (a target such as ``vda``) into ``<disk>`` ``dest_xml``.

        The whole backing chain is copied (the copy stands alone). The job is transient, which
        libvirt requires for a persistent guest: it does not survive a libvirtd restart (a
        pivot may still rewrite the persistent disk's source: libvirt 11.3 does). ``reuse``:
        the destination exists already (a volume) and is written as it is, never created or
        formatted by libvirt.
        """
        flags = libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB
        if reuse:
            flags |= libvirt.VIR_DOMAIN_BLOCK_COPY_REUSE_EXT
        with libvirt_errors("block copy"):
            self._lookup(uuid).blockCopy(disk, dest_xml, None, flags)

    def block_job_pivot(self, uuid: str, disk: str) -> None:
        """Switch disk ``disk`` over to the destination of its block copy, which must be in
        sync; returns once the guest uses the destination (the old source is closed)."""
        with libvirt_errors("block job"):
            self._lookup(uuid).blockJobAbort(disk, libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)

    def block_resize(self, uuid: str, disk: str, size_bytes: int) -> None:
        """Tell QEMU that disk ``disk`` is ``size_bytes`` long now; the guest gets a capacity
        change. A raw file shorter than that is grown by QEMU, a block device is not."""
        with libvirt_errors("block resize"):
            self._lookup(uuid).blockResize(disk, size_bytes, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)

    def block_capacity(self, uuid: str, disk: str) -> int:
        """The size in bytes the guest sees of disk ``disk`` (QEMU's view)."""
        with libvirt_errors(uuid):
            capacity, _allocation, _physical = self._lookup(uuid).blockInfo(disk, 0)
        return int(capacity)

    def update_device(self, uuid: str, xml: str, *, live: bool, config: bool) -> None:
        """Replace the device ``xml`` names (a disk by its target) with ``xml``."""
        with libvirt_errors("device XML"):
            self._lookup(uuid).updateDeviceFlags(xml, _affect(live, config))

    def block_job_progress(self, uuid: str, disk: str) -> tuple[int, int] | None:
        """(done, total) of the block job on ``disk``, or None when there is none."""
        with libvirt_errors(uuid):
            info = self._lookup(uuid).blockJobInfo(disk, 0)
        if not info:
            return None
        return int(info["cur"]), int(info["end"])

    def block_job_abort(self, uuid: str, disk: str) -> None:
        """End the block job on ``disk`` and wait until it is gone.

        A block copy that reached its ready phase leaves a complete, consistent copy as of this
        moment; the guest keeps using its own disk.
        """
        with libvirt_errors("block job"):
            self._lookup(uuid).blockJobAbort(disk, 0)

    def set_autostart(self, uuid: str, enabled: bool) -> None:
        with libvirt_errors(uuid):
            self._lookup(uuid).setAutostart(1 if enabled else 0)

    def all_stats(self) -> list[DomainStats]:
        """State, memory, vCPUs and CPU time of every domain in one bulk call."""
        with libvirt_errors("domain stats"):
            records = self.hv.conn.getAllDomainStats(_STATS, 0)
            return [_stats(dom, values) for dom, values in records]

    def managed_save_uuids(self) -> set[str]:
        """The UUIDs of every domain with a managed save image, in one call."""
        with libvirt_errors("domain list"):
            found = self.hv.conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE)
            return {str(dom.UUIDString()) for dom in found}

    def raw_stats_by_uuid_bytes(self) -> dict[bytes, dict[str, int]]:
        """libvirt's raw stats of every domain, by raw 16-byte UUID, in one bulk call.

        The cheapest form for listing hundreds of guests: no object per domain is built
        beyond what libvirt returns, and the raw UUID costs half of its string form; read a
        record with :func:`stats_values`.
        """
        with libvirt_errors("domain stats"):
            records = self.hv.conn.getAllDomainStats(_STATS, 0)
            return {dom.UUID(): values for dom, values in records}

    def stats(self, uuid: str) -> DomainStats:
        with libvirt_errors(uuid):
            dom = self._lookup(uuid)
            records = self.hv.conn.domainListGetStats([dom], _STATS, 0)
        return _stats(*records[0])


def _affect(live: bool, config: bool) -> int:
    flags = 0
    if live:
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    if config:
        flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
    return flags


def stats_values(
    values: dict[str, int], managed_save: bool = False
) -> tuple[DomainState, int, int, int, int]:
    """(state, max memory KiB, memory KiB, vcpus, cpu time ns) from one raw stats record.

    Values a driver does not report are 0 (libvirt's test driver reports only the state).
    """
    get = values.get  # hundreds of records per listing: one attribute lookup, not five
    return (
        _domain_state(
            get("state.state", libvirt.VIR_DOMAIN_NOSTATE), get("state.reason", 0), managed_save
        ),
        get("balloon.maximum", 0),
        get("balloon.current", 0),
        get("vcpu.current", 0),
        get("cpu.time", 0),
    )


def stats_state(values: dict[str, int], managed_save: bool = False) -> DomainState:
    """The power state and its reason from one raw stats record (see :func:`stats_values`)."""
    return _domain_state(
        values.get("state.state", libvirt.VIR_DOMAIN_NOSTATE),
        values.get("state.reason", 0),
        managed_save,
    )


@functools.cache
def _domain_state(code: int, reason: int, managed_save: bool) -> DomainState:
    # A few dozen combinations exist; listing hundreds of guests builds each one once.
    return DomainState(power_state(code), state_reason(code, reason), managed_save)


def _stats(dom: libvirt.virDomain, values: dict[str, int]) -> DomainStats:
    # Stats a driver does not report are 0 here; no per-domain call fills them in, so that
    # listing stays one round trip however many guests there are.
    code = int(values.get("state.state", libvirt.VIR_DOMAIN_NOSTATE))
    state = power_state(code)
    max_kib = int(values.get("balloon.maximum", 0))
    cur_kib = int(values.get("balloon.current", 0))
    vcpus = int(values.get("vcpu.current", 0))
    return DomainStats(
        uuid=str(dom.UUIDString()),
        name=str(dom.name()),
        state=state,
        max_memory_kib=int(max_kib),
        memory_kib=int(cur_kib),
        vcpus=int(vcpus),
        cpu_time_ns=int(values.get("cpu.time", 0)),
        reason=state_reason(code, int(values.get("state.reason", 0))),
    )
