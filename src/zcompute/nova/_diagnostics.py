"""Nova's server diagnostics from zcompute's guest counters.

``get_instance_diagnostics`` (API 2.48 and later) is Nova's versioned object; ``get_diagnostics``
(the older API) a flat dictionary with the keys Nova's libvirt driver uses (``cpu0_time``,
``vda_read``, ``<tap>_rx``, ``memory``), so that tools reading either keep working. The driver
is ``libvirt`` (zcompute drives libvirt), the hypervisor ``[libvirt] virt_type``.
"""

from __future__ import annotations

from typing import Any

from nova.compute import power_state
from nova.objects import diagnostics

from zcompute.driver import GuestDiagnostics
from zcompute.model import InstanceState
from zcompute.nova._base import AdapterBase
from zcompute.nova._conf import CONF

__all__ = ["DiagnosticsMethods"]

#: the power state names Nova's diagnostics carry (its power_state.STATE_MAP's)
_STATE = {
    InstanceState.RUNNING: power_state.RUNNING,
    InstanceState.PAUSED: power_state.PAUSED,
    InstanceState.SHUTOFF: power_state.SHUTDOWN,
    InstanceState.CRASHED: power_state.CRASHED,
    InstanceState.SUSPENDED: power_state.SUSPENDED,
}


class DiagnosticsMethods(AdapterBase):
    """get_instance_diagnostics and get_diagnostics."""

    def get_instance_diagnostics(self, instance: Any) -> Any:
        with self._guest(instance) as uuid:
            found = self.zc.diagnostics(uuid)
        return diagnostics_object(found)

    def get_diagnostics(self, instance: Any) -> dict[str, int]:
        with self._guest(instance) as uuid:
            found = self.zc.diagnostics(uuid)
        return legacy_diagnostics(found)


def diagnostics_object(found: GuestDiagnostics) -> Any:
    """Nova's :class:`Diagnostics` object of a guest."""
    counters = found.counters
    state = _STATE.get(found.info.state, power_state.NOSTATE)
    diags = diagnostics.Diagnostics(
        state=power_state.STATE_MAP[state],
        driver="libvirt",
        hypervisor=str(CONF.libvirt.virt_type),
        hypervisor_os="linux",
        config_drive=found.config_drive,
    )
    for index, time_ns in enumerate(counters.vcpu_times_ns):
        diags.add_cpu(id=index, time=time_ns)
    for nic in counters.nics:
        diags.add_nic(
            mac_address=found.nic_macs.get(nic.device),
            rx_octets=nic.rx_bytes,
            rx_errors=nic.rx_errors,
            rx_drop=nic.rx_drop,
            rx_packets=nic.rx_packets,
            tx_octets=nic.tx_bytes,
            tx_errors=nic.tx_errors,
            tx_drop=nic.tx_drop,
            tx_packets=nic.tx_packets,
        )
    for disk in counters.disks:
        diags.add_disk(
            read_bytes=disk.read_bytes,
            read_requests=disk.read_requests,
            write_bytes=disk.write_bytes,
            write_requests=disk.write_requests,
            errors_count=disk.errors,
        )
    diags.memory_details = diagnostics.MemoryDiagnostics(
        maximum=_mib(counters.memory_max_kib), used=_mib(counters.memory_used_kib)
    )
    return diags


def legacy_diagnostics(found: GuestDiagnostics) -> dict[str, int]:
    """The flat diagnostics of the older API: the counters a guest has, none it lacks."""
    counters = found.counters
    flat: dict[str, int | None] = {}
    for index, time_ns in enumerate(counters.vcpu_times_ns):
        flat[f"cpu{index}_time"] = time_ns
    for disk in counters.disks:
        flat[f"{disk.target}_read_req"] = disk.read_requests
        flat[f"{disk.target}_read"] = disk.read_bytes
        flat[f"{disk.target}_write_req"] = disk.write_requests
        flat[f"{disk.target}_write"] = disk.write_bytes
        flat[f"{disk.target}_errors"] = disk.errors
    for nic in counters.nics:
        flat[f"{nic.device}_rx"] = nic.rx_bytes
        flat[f"{nic.device}_rx_packets"] = nic.rx_packets
        flat[f"{nic.device}_rx_errors"] = nic.rx_errors
        flat[f"{nic.device}_rx_drop"] = nic.rx_drop
        flat[f"{nic.device}_tx"] = nic.tx_bytes
        flat[f"{nic.device}_tx_packets"] = nic.tx_packets
        flat[f"{nic.device}_tx_errors"] = nic.tx_errors
        flat[f"{nic.device}_tx_drop"] = nic.tx_drop
    flat["memory"] = counters.memory_max_kib
    flat["memory-actual"] = counters.memory_used_kib
    return {key: value for key, value in flat.items() if value is not None}


def _mib(kib: int | None) -> int | None:
    return None if kib is None else kib // 1024
