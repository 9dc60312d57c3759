"""A running guest's counters, as libvirt keeps them: per vCPU, per NIC, per disk, memory.

One bulk stats call (``virConnectGetAllDomainStats`` for one domain) gives them all: what an
operator's diagnostics (Nova's server diagnostics) show, read without touching the guest.
A counter the hypervisor does not keep is None, not 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import libvirt

from zcompute.virt._connection import Hypervisor
from zcompute.virt._errors import libvirt_errors

__all__ = ["DiskCounters", "GuestCounters", "NicCounters", "guest_counters"]

_GROUPS = (
    libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)


@dataclass(frozen=True)
class NicCounters:
    """One NIC's traffic since its guest started (its device on the host: a tap, a bridge
    port or a network's)."""

    device: str
    rx_bytes: int | None
    rx_packets: int | None
    rx_errors: int | None
    rx_drop: int | None
    tx_bytes: int | None
    tx_packets: int | None
    tx_errors: int | None
    tx_drop: int | None


@dataclass(frozen=True)
class DiskCounters:
    """One disk's I/O since its guest started (by its target, ``vda``)."""

    target: str
    read_bytes: int | None
    read_requests: int | None
    write_bytes: int | None
    write_requests: int | None
    errors: int | None


@dataclass(frozen=True)
class GuestCounters:
    """A guest's counters: CPU time per vCPU (ns), memory (KiB), NICs, disks."""

    vcpu_times_ns: tuple[int | None, ...]
    memory_max_kib: int | None
    memory_used_kib: int | None
    nics: tuple[NicCounters, ...]
    disks: tuple[DiskCounters, ...]


def guest_counters(hv: Hypervisor, uuid: str) -> GuestCounters:
    """The counters of the domain ``uuid`` (a stopped guest has none: empty lists)."""
    with libvirt_errors(uuid):
        dom = hv.conn.lookupByUUIDString(uuid)
        ((_dom, values),) = hv.conn.domainListGetStats([dom], _GROUPS, 0)
    return counters_of(values)


def counters_of(values: dict[str, object]) -> GuestCounters:
    """:class:`GuestCounters` from one raw stats record (libvirt's flat ``group.N.field``)."""

    def number(key: str) -> int | None:
        value = values.get(key)
        return int(value) if isinstance(value, int) else None

    def count(group: str) -> int:
        return number(f"{group}.count") or 0

    vcpus = tuple(number(f"vcpu.{i}.time") for i in range(number("vcpu.current") or 0))
    nics = tuple(
        NicCounters(
            str(values.get(f"net.{i}.name", "")),
            *(
                number(f"net.{i}.{way}.{what}")
                for way in ("rx", "tx")
                for what in ("bytes", "pkts", "errs", "drop")
            ),
        )
        for i in range(count("net"))
    )
    disks = tuple(
        DiskCounters(
            str(values.get(f"block.{i}.name", "")),
            number(f"block.{i}.rd.bytes"),
            number(f"block.{i}.rd.reqs"),
            number(f"block.{i}.wr.bytes"),
            number(f"block.{i}.wr.reqs"),
            number(f"block.{i}.errors"),
        )
        for i in range(count("block"))
    )
    used = number("balloon.rss")  # what QEMU holds; the balloon's current is only a target
    return GuestCounters(vcpus, number("balloon.maximum"), used, nics, disks)
