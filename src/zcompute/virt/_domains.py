"""Domain operations: every libvirt call on guests, returning plain Python data.

libvirt's objects stay inside this module; callers name domains by UUID and get back
strings, enums and dataclasses, so nothing outside :mod:`zcompute.virt` needs libvirt.
"""

from __future__ import annotations

import contextlib
import enum
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


_STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_BALLOON
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
        with libvirt_errors(uuid), contextlib.suppress(NotFound):
            self._lookup(uuid).undefineFlags(flags)

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

    def set_autostart(self, uuid: str, enabled: bool) -> None:
        with libvirt_errors(uuid):
            self._lookup(uuid).setAutostart(1 if enabled else 0)

    def all_stats(self) -> list[DomainStats]:
        """State, memory, vCPUs and CPU time of every domain in one bulk call."""
        with libvirt_errors("domain stats"):
            records = self.hv.conn.getAllDomainStats(_STATS, 0)
            return [_stats(dom, values) for dom, values in records]

    def all_stats_by_uuid(self) -> dict[str, dict[str, int]]:
        """libvirt's raw stats of every domain by UUID, in one bulk call.

        The cheapest form for listing hundreds of guests: no object per domain is built
        beyond what libvirt returns; read it with :func:`stats_values`.
        """
        with libvirt_errors("domain stats"):
            records = self.hv.conn.getAllDomainStats(_STATS, 0)
            return {dom.UUIDString(): values for dom, values in records}

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


def stats_values(values: dict[str, int]) -> tuple[PowerState, int, int, int, int]:
    """(state, max memory KiB, memory KiB, vcpus, cpu time ns) from one raw stats record.

    Values a driver does not report are 0 (libvirt's test driver reports only the state).
    """
    return (
        _STATES.get(values.get("state.state", 0), PowerState.NOSTATE),
        values.get("balloon.maximum", 0),
        values.get("balloon.current", 0),
        values.get("vcpu.current", 0),
        values.get("cpu.time", 0),
    )


def _stats(dom: libvirt.virDomain, values: dict[str, int]) -> DomainStats:
    # Stats a driver does not report are 0 here; no per-domain call fills them in, so that
    # listing stays one round trip however many guests there are.
    state = power_state(int(values.get("state.state", libvirt.VIR_DOMAIN_NOSTATE)))
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
    )
