"""libvirt's default event loop, run once per process in a daemon thread.

libvirt delivers domain events (lifecycle changes, device removal) and connection keepalives
only when an event implementation was registered *before* the connection was opened; console
streams need it too. :func:`ensure_event_loop` is called by :class:`Hypervisor` before it opens.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import libvirt

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _run() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


def ensure_event_loop() -> None:
    """Register libvirt's default event implementation and start its thread (idempotent)."""
    global _thread
    with _lock:
        if _thread is not None:
            return
        libvirt.virEventRegisterDefaultImpl()
        _thread = threading.Thread(target=_run, name="libvirt-events", daemon=True)
        _thread.start()


class LifecycleEvent(enum.StrEnum):
    """libvirt's ``virDomainEventType`` by name."""

    DEFINED = "defined"
    UNDEFINED = "undefined"
    STARTED = "started"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    STOPPED = "stopped"
    SHUTDOWN = "shutdown"
    PMSUSPENDED = "pmsuspended"
    CRASHED = "crashed"


_LIFECYCLE = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: LifecycleEvent.DEFINED,
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: LifecycleEvent.UNDEFINED,
    libvirt.VIR_DOMAIN_EVENT_STARTED: LifecycleEvent.STARTED,
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: LifecycleEvent.SUSPENDED,
    libvirt.VIR_DOMAIN_EVENT_RESUMED: LifecycleEvent.RESUMED,
    libvirt.VIR_DOMAIN_EVENT_STOPPED: LifecycleEvent.STOPPED,
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: LifecycleEvent.SHUTDOWN,
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: LifecycleEvent.PMSUSPENDED,
    libvirt.VIR_DOMAIN_EVENT_CRASHED: LifecycleEvent.CRASHED,
}

LifecycleCallback = Callable[[str, LifecycleEvent], None]
DeviceRemovedCallback = Callable[[str, str], None]


class BlockJobStatus(enum.StrEnum):
    """libvirt's ``virConnectDomainEventBlockJobStatus`` by name."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    READY = "ready"


_BLOCK_JOB = {
    libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED: BlockJobStatus.COMPLETED,
    libvirt.VIR_DOMAIN_BLOCK_JOB_FAILED: BlockJobStatus.FAILED,
    libvirt.VIR_DOMAIN_BLOCK_JOB_CANCELED: BlockJobStatus.CANCELED,
    libvirt.VIR_DOMAIN_BLOCK_JOB_READY: BlockJobStatus.READY,
}

BlockJobCallback = Callable[[str, str, BlockJobStatus], None]


@dataclass(frozen=True)
class Subscription:
    """A callback to (re)register on every connection a :class:`Hypervisor` opens."""

    event_id: int
    adapter: Callable[..., None]


def lifecycle_subscription(callback: LifecycleCallback) -> Subscription:
    def adapter(_conn: Any, dom: Any, event: int, _detail: int, _opaque: Any) -> None:
        if event in _LIFECYCLE:
            callback(str(dom.UUIDString()), _LIFECYCLE[event])

    return Subscription(libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, adapter)


def device_removed_subscription(callback: DeviceRemovedCallback) -> Subscription:
    def adapter(_conn: Any, dom: Any, alias: str, _opaque: Any) -> None:
        callback(str(dom.UUIDString()), alias)

    return Subscription(libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, adapter)


def block_job_subscription(callback: BlockJobCallback) -> Subscription:
    """Block job progress: ``callback(uuid, disk target, status)``."""

    def adapter(_conn: Any, dom: Any, disk: str, _kind: int, status: int, _opaque: Any) -> None:
        if status in _BLOCK_JOB:
            callback(str(dom.UUIDString()), disk, _BLOCK_JOB[status])

    return Subscription(libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2, adapter)
