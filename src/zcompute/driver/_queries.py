"""What the driver tells without changing anything: guests' records and live info, console
logs, and the host's capacity and capabilities."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from zcompute.arch import offered_arches
from zcompute.driver import _console
from zcompute.driver._api import Capabilities, capabilities_of
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._devicetags import TaggedDevice, tagged_devices
from zcompute.driver._host import host_cpu_model
from zcompute.driver._reports import (
    GuestDiagnostics,
    InstanceInfo,
    domain_gone,
    info_of,
    supported_instances,
)
from zcompute.driver._state import instance_state
from zcompute.errors import NotFound
from zcompute.model import Instance, InstanceState
from zcompute.virt import DomainState, GuestCounters, PowerState, guest_counters, stats_values
from zcompute.xml import Domain

__all__ = ["Queries"]


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class Queries:
    """The read-only operations of :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(self, ctx: DriverContext) -> None:
        self._ctx = ctx

    # -- guests ----------------------------------------------------------------------------

    def get_instance(self, name_or_uuid: str) -> Instance:
        return self._ctx.db.get_instance(name_or_uuid)

    def instance_info(self, name_or_uuid: str) -> InstanceInfo:
        """:meth:`get_info`, but a record whose libvirt domain is gone is in state ``error``,
        as :meth:`list_instances` shows it, instead of NotFound."""
        inst = self._ctx.db.get_instance(name_or_uuid)
        try:
            return self.get_info(inst.uuid)
        except NotFound as err:
            if err.kind != "domain":
                raise
            return domain_gone(inst.uuid, inst.name)

    def get_info(self, name_or_uuid: str) -> InstanceInfo:
        inst = self._ctx.db.get_instance(name_or_uuid)
        domains = self._ctx.domains
        stats = domains.stats(inst.uuid)
        saved = stats.state is PowerState.SHUTOFF and domains.has_managed_save(inst.uuid)
        return info_of(inst.uuid, inst.name, stats, DomainState(stats.state, stats.reason, saved))

    def diagnostics(self, name_or_uuid: str) -> GuestDiagnostics:
        """The guest's counters (see :class:`GuestDiagnostics`)."""
        inst = self._ctx.db.get_instance(name_or_uuid)
        info = self.get_info(inst.uuid)
        if info.state not in (InstanceState.RUNNING, InstanceState.PAUSED):
            return GuestDiagnostics(info, GuestCounters((), None, None, (), ()), {}, False)
        counters = guest_counters(self._ctx.hv, inst.uuid)
        live = Domain.from_xml(self._ctx.domains.xml(inst.uuid))
        macs = {
            i.target_dev: (i.mac or "").lower() for i in live.devices.interfaces if i.target_dev
        }
        return GuestDiagnostics(info, counters, macs, inst.config_drive is not None)

    def list_instances(self) -> list[InstanceInfo]:
        """Every instance zcompute manages, with live state, from one bulk libvirt call."""
        domains = self._ctx.domains
        stats = domains.raw_stats_by_uuid_bytes()
        saved: set[str] | None = None  # managed saves, asked for once a shut-off guest shows
        out: list[InstanceInfo] = []
        append = out.append  # hundreds of guests: lookups hoisted out of the loop
        for rec in self._ctx.db.instance_index():
            values = stats.get(rec.uuid_bytes)
            if values is None:  # a record whose domain is gone: visible, never hidden
                append(domain_gone(rec.uuid, rec.name))
                continue
            live, max_kib, cur_kib, vcpus, cpu_ns = stats_values(values)
            # Only a shut-off guest can have a managed save (it is suspended then): one more
            # bulk call finds them all, and only when a shut-off guest is listed at all.
            if live.state is PowerState.SHUTOFF:
                if saved is None:
                    saved = domains.managed_save_uuids()
                if rec.uuid in saved:
                    live = dataclasses.replace(live, managed_save=True)
            # Where libvirt reports no sizes (its test driver), the configured ones are the
            # instance's flavor, which zcompute recorded.
            append(
                InstanceInfo(
                    rec.uuid,
                    rec.name,
                    instance_state(live),
                    max_kib or rec.memory_kib,
                    cur_kib or rec.memory_kib,
                    vcpus or rec.vcpus,
                    cpu_ns,
                )
            )
        return out

    def instance_exists(self, name_or_uuid: str) -> bool:
        try:
            inst = self._ctx.db.get_instance(name_or_uuid)
        except NotFound:
            return False
        return self._ctx.domains.exists(inst.uuid)

    def domain_xml(self, name_or_uuid: str) -> str:
        return self._ctx.domains.xml(self._ctx.db.get_instance(name_or_uuid).uuid)

    def device_metadata(self, name_or_uuid: str) -> tuple[TaggedDevice, ...]:
        inst = self._ctx.db.get_instance(name_or_uuid)
        # the live definition holds hotplugged devices; it is the persistent one when off
        return tagged_devices(self._ctx.domains.xml(inst.uuid), inst)

    # -- console logs ----------------------------------------------------------------------

    def console_log_path(self, name_or_uuid: str) -> Path:
        return self.console_log_of(self._ctx.db.get_instance(name_or_uuid).uuid)

    def console_log_of(self, uuid: str) -> Path:
        """Where the log console of instance ``uuid`` is written (known before spawn ends)."""
        return self._ctx.instances_dir / uuid / "console.log"

    def get_console_output(
        self, name_or_uuid: str, max_bytes: int = _console.DEFAULT_TAIL
    ) -> bytes:
        """The last ``max_bytes`` of the guest's log console (sclplm file / serial log)."""
        return _console.tail(self.console_log_path(name_or_uuid), max_bytes)

    # -- the host --------------------------------------------------------------------------

    def get_available_resource(self) -> dict[str, Any]:
        """Capacity and identity of this host, as a scheduler needs it."""
        ctx = self._ctx
        host = ctx.host
        arch, memory_mib, cpus = ctx.hv.node_info()
        disk = shutil.disk_usage(ctx.config.data_dir)
        libvirt_version, qemu_version = ctx.hv.versions()
        used = ctx.db.list_instances()
        cpu = host_cpu_model(host.caps)
        return {
            "vcpus": cpus,
            "vcpus_used": sum(i.flavor.vcpus for i in used),
            # file-backed guest memory lives in the page cache: its configured capacity is the
            # host's memory for guests (as Nova's [libvirt] file_backed_memory)
            "memory_mib": ctx.config.file_backed_memory_mib or memory_mib,
            "memory_mib_used": sum(i.flavor.memory_mib for i in used),
            "local_gib": disk.total >> 30,
            "local_gib_used": (disk.total - disk.free) >> 30,
            "hypervisor_type": "QEMU",
            "hypervisor_version": qemu_version,
            "libvirt_version": libvirt_version,
            "hypervisor_hostname": ctx.hv.hostname(),
            "cpu_info": {
                "arch": arch,
                "model": cpu.model,
                "vendor": cpu.vendor,
                "model_source": cpu.source,
            },
            "supported_instances": supported_instances(host, self._offered()),
        }

    def capabilities(self) -> Capabilities:
        """What this host runs and which features each of those architectures offers."""
        return capabilities_of(supported_instances(self._ctx.host, self._offered()))

    def _offered(self) -> tuple[str, ...] | None:
        return offered_arches(self._ctx.config.guest_arches)
