"""The libvirt boundary: the only package in zcompute that imports :mod:`libvirt`.

Everything libvirt raises is mapped here into :mod:`zcompute.errors`, with
``raise ... from`` so that the original error stays attached for debugging.
"""

from __future__ import annotations

from zcompute.virt._agent import GuestAgent, GuestFilesystem
from zcompute.virt._connection import Hypervisor, validate_domain_on_libvirt
from zcompute.virt._diagnostics import DiskCounters, GuestCounters, NicCounters, guest_counters
from zcompute.virt._domains import (
    Domains,
    DomainState,
    DomainStats,
    PowerState,
    stats_state,
    stats_values,
)
from zcompute.virt._errors import libvirt_errors
from zcompute.virt._events import (
    BlockJobStatus,
    LifecycleEvent,
    Subscription,
    block_job_subscription,
    device_removed_subscription,
    lifecycle_subscription,
)
from zcompute.virt._migration import MigrationProgress, MigrationRequest, Migrations
from zcompute.virt._secrets import SecretInfo, Secrets, SecretUsage, secret_xml
from zcompute.virt._stream import ConsoleClosed, ConsoleStream

__all__ = [
    "BlockJobStatus",
    "ConsoleClosed",
    "ConsoleStream",
    "DiskCounters",
    "DomainState",
    "DomainStats",
    "Domains",
    "GuestAgent",
    "GuestCounters",
    "GuestFilesystem",
    "Hypervisor",
    "LifecycleEvent",
    "MigrationProgress",
    "MigrationRequest",
    "Migrations",
    "NicCounters",
    "PowerState",
    "SecretInfo",
    "SecretUsage",
    "Secrets",
    "Subscription",
    "block_job_subscription",
    "device_removed_subscription",
    "guest_counters",
    "libvirt_errors",
    "lifecycle_subscription",
    "secret_xml",
    "stats_state",
    "stats_values",
    "validate_domain_on_libvirt",
]
