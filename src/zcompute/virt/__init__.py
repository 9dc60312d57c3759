"""The libvirt boundary: the only package in zcompute that imports :mod:`libvirt`.

Everything libvirt raises is mapped here into :mod:`zcompute.errors`, with
``raise ... from`` so that the original error stays attached for debugging.
"""

from __future__ import annotations

from zcompute.virt._connection import Hypervisor, validate_domain_on_libvirt
from zcompute.virt._domains import Domains, DomainStats, PowerState, stats_values
from zcompute.virt._errors import libvirt_errors
from zcompute.virt._events import (
    LifecycleEvent,
    Subscription,
    device_removed_subscription,
    lifecycle_subscription,
)

__all__ = [
    "DomainStats",
    "Domains",
    "Hypervisor",
    "LifecycleEvent",
    "PowerState",
    "Subscription",
    "device_removed_subscription",
    "libvirt_errors",
    "lifecycle_subscription",
    "stats_values",
    "validate_domain_on_libvirt",
]
