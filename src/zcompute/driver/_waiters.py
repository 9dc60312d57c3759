"""Waiting for libvirt domain events (device removed, block job ready) from the driver's threads.

Events arrive on libvirt's event loop thread. An operation registers what it waits for *before*
it asks libvirt to act, so an event that comes back faster than the call returns is not lost.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from types import TracebackType

from zcompute.virt import (
    BlockJobStatus,
    Hypervisor,
    block_job_subscription,
    device_removed_subscription,
)

__all__ = ["DomainEvents", "Waiter"]


class Waiter:
    """One expected event; ``wait`` returns its value, or None when it did not come in time."""

    def __init__(self, hub: DomainEvents, key: Hashable) -> None:
        self._hub = hub
        self.key = key
        self._done = threading.Event()
        self.value: object = None

    def fire(self, value: object) -> None:
        if not self._done.is_set():  # the first event is the answer; later ones are news
            self.value = value
            self._done.set()

    def wait(self, timeout: float) -> object | None:
        return self.value if self._done.wait(timeout) else None

    @property
    def fired(self) -> bool:
        return self._done.is_set()

    def __enter__(self) -> Waiter:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._hub.forget(self)


class DomainEvents:
    """Routes device-removed and block-job events to the waiters registered for them."""

    def __init__(self, hypervisor: Hypervisor) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[Hashable, list[Waiter]] = {}
        hypervisor.subscribe(device_removed_subscription(self._device_removed))
        hypervisor.subscribe(block_job_subscription(self._block_job))

    def expect_removal(self, uuid: str, alias: str) -> Waiter:
        """Wait for libvirt's DEVICE_REMOVED of device ``alias`` (e.g. ``virtio-disk1``)."""
        return self._expect(("removed", uuid, alias))

    def expect_block_job(self, uuid: str, disk: str) -> Waiter:
        """Wait for the next status (ready, completed, failed, canceled) of a job on ``disk``."""
        return self._expect(("block-job", uuid, disk))

    def _expect(self, key: Hashable) -> Waiter:
        waiter = Waiter(self, key)
        with self._lock:
            self._waiters.setdefault(key, []).append(waiter)
        return waiter

    def forget(self, waiter: Waiter) -> None:
        with self._lock:
            waiting = self._waiters.get(waiter.key, [])
            if waiter in waiting:
                waiting.remove(waiter)
            if not waiting:
                self._waiters.pop(waiter.key, None)

    def _fire(self, key: Hashable, value: object) -> None:
        with self._lock:
            waiting = list(self._waiters.get(key, []))
        for waiter in waiting:
            waiter.fire(value)

    def _device_removed(self, uuid: str, alias: str) -> None:
        self._fire(("removed", uuid, alias), alias)

    def _block_job(self, uuid: str, disk: str, status: BlockJobStatus) -> None:
        self._fire(("block-job", uuid, disk), status)
