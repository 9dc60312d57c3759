"""libvirt's lifecycle events of this service's guests, handed to Nova as Nova's events.

Nova's power-state sync then sees a guest stopped or started outside Nova (from inside the
guest, or with virsh). Events arrive on libvirt's event thread, which must not wait on Nova's
database: they are queued and emitted by a thread of their own, in order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from nova.virt import event as nova_event

from zcompute.driver import LifecycleEvent

__all__ = ["EventBridge"]

LOG = logging.getLogger("zcompute.nova")

_TRANSITIONS = {
    LifecycleEvent.STARTED: nova_event.EVENT_LIFECYCLE_STARTED,
    LifecycleEvent.STOPPED: nova_event.EVENT_LIFECYCLE_STOPPED,
    LifecycleEvent.SUSPENDED: nova_event.EVENT_LIFECYCLE_PAUSED,
    LifecycleEvent.RESUMED: nova_event.EVENT_LIFECYCLE_RESUMED,
    LifecycleEvent.PMSUSPENDED: nova_event.EVENT_LIFECYCLE_SUSPENDED,
    LifecycleEvent.CRASHED: nova_event.EVENT_LIFECYCLE_STOPPED,
}


class EventBridge:
    """Queues the lifecycle events of the guests ``is_ours`` accepts; emits them to Nova."""

    def __init__(
        self, is_ours: Callable[[str], bool], emit: Callable[[nova_event.Event], None]
    ) -> None:
        self._is_ours = is_ours
        self._emit = emit
        self._queue: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="zcompute-nova-events", daemon=True)
        self._thread.start()

    def on_lifecycle(self, uuid: str, event: LifecycleEvent) -> None:
        """libvirt's event thread: only a queue put (a guest of someone else is dropped)."""
        transition = _TRANSITIONS.get(event)
        if transition is not None:
            self._queue.put((uuid, transition))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            uuid, transition = item
            try:
                if self._is_ours(uuid):
                    self._emit(nova_event.LifecycleEvent(uuid, transition))
            except Exception:  # one bad event must not end the bridge
                LOG.exception("lifecycle event %s of %s not delivered to Nova", transition, uuid)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
