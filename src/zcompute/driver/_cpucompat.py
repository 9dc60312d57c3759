"""Before a migration: may the guest's CPU run on the destination host? The profile decides.

The guest's CPU is what its domain XML says now (a running guest's live XML: libvirt expands
host-model into the model it runs with); this host is what zcompute read of it (its CPU model,
on IBM Z from /proc/cpuinfo where libvirt names none). The destination is what its own libvirt
answers, over the migration's URI: its capabilities and, for a KVM guest, its domain
capabilities for the guest's arch and machine (the model host-model becomes there, and which
named models it can run). Nothing of this host is taken for the destination's (this machine's
/proc/cpuinfo is not the other host's). Reading them changes nothing on either host.
"""

from __future__ import annotations

import logging

from zcompute.arch import GuestCpu, HostCpuFacts, get_profile
from zcompute.driver._context import DriverContext
from zcompute.driver._operations import Operation
from zcompute.driver._state import ACTIVE
from zcompute.errors import InvalidInput, VirtError
from zcompute.host import DomainCapabilities, HostCapabilities
from zcompute.virt import Hypervisor
from zcompute.xml import Domain

__all__ = ["cpu_move_problem", "destination_cpu", "guest_cpu"]

LOG = logging.getLogger("zcompute.driver")


def guest_cpu(ctx: DriverContext, op: Operation) -> GuestCpu:
    """The CPU the guest of ``op`` has: its live XML's ``<cpu>``, its recorded domain type."""
    live = Domain.from_xml(ctx.domains.xml(op.uuid))
    return GuestCpu.from_domain(live, op.instance.domain_type, running=op.state in ACTIVE)


def cpu_move_problem(
    ctx: DriverContext, op: Operation, uri: str, dest: HostCpuFacts | None = None
) -> str | None:
    """Why the guest of ``op`` must not move to the host of libvirt ``uri`` (one line), or None
    when it may. ``dest``: that host's CPU facts when the caller has them (a destination that
    read its own, /proc/cpuinfo included, and sent them); else its libvirt is asked."""
    inst = op.instance
    guest = guest_cpu(ctx, op)
    if guest.emulated:
        return None  # TCG: an emulated CPU runs the same on any host
    here = ctx.host
    source = HostCpuFacts.of("this host", here.caps, here.host_cpu_model)
    if dest is None:
        dest = destination_cpu(uri, inst.arch, inst.machine_type, guest.domain_type)
    return get_profile(inst.arch).migration_cpu_problem(guest, source, dest)


def destination_cpu(
    uri: str, arch: str, machine: str | None, domain_type: str = "kvm"
) -> HostCpuFacts:
    """The CPU of the host of libvirt ``uri``, for a guest of ``arch``, ``machine``."""
    there = Hypervisor(uri)
    try:
        caps = HostCapabilities.from_xml(there.capabilities(), f"{uri} capabilities")
        domcaps = _domain_capabilities(there, arch, machine, domain_type)
    finally:
        there.close()
    return HostCpuFacts.of(f"the destination ({uri})", caps, caps.cpu.model, domcaps)


def _domain_capabilities(
    there: Hypervisor, arch: str, machine: str | None, domain_type: str
) -> DomainCapabilities | None:
    """The destination's domain capabilities for the guest, or None where libvirt has none."""
    try:
        text = there.domain_capabilities(arch, machine, domain_type)
        return DomainCapabilities.from_xml(text, f"{there.uri} domain capabilities")
    except (VirtError, InvalidInput) as err:  # InvalidInput: unparsable (HostDataError)
        LOG.info("no domain capabilities of %s for %s: %s", there.uri, arch, err)
        return None
