"""libvirt's lifecycle events handed to Nova (zcompute.nova._events.EventBridge)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from nova.virt import event as nova_event

from zcompute.driver import LifecycleEvent
from zcompute.nova._events import EventBridge

OURS, THEIRS = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"


class Sink:
    """Collects emitted events; ``wait`` until ``count`` have arrived."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.events: list[nova_event.LifecycleEvent] = []
        self._fail_on = fail_on
        self._cond = threading.Condition()

    def __call__(self, event: nova_event.LifecycleEvent) -> None:
        with self._cond:
            if event.get_instance_uuid() == self._fail_on:
                self._fail_on = None
                raise RuntimeError("Nova's handler failed")
            self.events.append(event)
            self._cond.notify_all()

    def wait(self, count: int) -> list[tuple[str, int]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.events) >= count, timeout=5)
            return [(e.get_instance_uuid(), e.get_transition()) for e in self.events]


@pytest.fixture
def bridge() -> Iterator[Callable[..., tuple[EventBridge, Sink]]]:
    made: list[EventBridge] = []

    def make(
        is_ours: Callable[[str], bool] = lambda uuid: uuid == OURS, fail_on: str | None = None
    ) -> tuple[EventBridge, Sink]:
        sink = Sink(fail_on)
        made.append(EventBridge(is_ours, sink))
        return made[-1], sink

    yield make
    for item in made:
        item.stop()


@pytest.mark.parametrize(
    ("event", "transition"),
    [
        (LifecycleEvent.STARTED, nova_event.EVENT_LIFECYCLE_STARTED),
        (LifecycleEvent.STOPPED, nova_event.EVENT_LIFECYCLE_STOPPED),
        (LifecycleEvent.SUSPENDED, nova_event.EVENT_LIFECYCLE_PAUSED),
        (LifecycleEvent.RESUMED, nova_event.EVENT_LIFECYCLE_RESUMED),
        (LifecycleEvent.PMSUSPENDED, nova_event.EVENT_LIFECYCLE_SUSPENDED),
        (LifecycleEvent.CRASHED, nova_event.EVENT_LIFECYCLE_STOPPED),
    ],
)
def test_events_map_to_novas_transitions(
    bridge: Callable[..., tuple[EventBridge, Sink]], event: LifecycleEvent, transition: int
) -> None:
    bridged, sink = bridge()
    bridged.on_lifecycle(OURS, event)
    assert sink.wait(1) == [(OURS, transition)]
    assert isinstance(sink.events[0], nova_event.LifecycleEvent)


def test_events_of_guests_the_predicate_rejects_are_dropped(
    bridge: Callable[..., tuple[EventBridge, Sink]],
) -> None:
    bridged, sink = bridge()
    bridged.on_lifecycle(THEIRS, LifecycleEvent.STARTED)
    bridged.on_lifecycle(OURS, LifecycleEvent.STOPPED)  # in order: after the dropped one
    assert sink.wait(1) == [(OURS, nova_event.EVENT_LIFECYCLE_STOPPED)]


@pytest.mark.parametrize(
    "event",
    [
        LifecycleEvent.DEFINED,
        LifecycleEvent.UNDEFINED,
        LifecycleEvent.SHUTDOWN,
    ],
)
def test_events_without_a_nova_transition_are_dropped(
    bridge: Callable[..., tuple[EventBridge, Sink]], event: LifecycleEvent
) -> None:
    bridged, sink = bridge()
    bridged.on_lifecycle(OURS, event)
    bridged.on_lifecycle(OURS, LifecycleEvent.STARTED)
    assert sink.wait(1) == [(OURS, nova_event.EVENT_LIFECYCLE_STARTED)]


def test_a_failing_emit_or_predicate_does_not_stop_the_bridge(
    bridge: Callable[..., tuple[EventBridge, Sink]],
) -> None:
    def is_ours(uuid: str) -> bool:
        if uuid == THEIRS:
            raise RuntimeError("zcompute's records are unreadable")
        return True

    bridged, sink = bridge(is_ours, fail_on=OURS)
    bridged.on_lifecycle(OURS, LifecycleEvent.STARTED)  # emit raises
    bridged.on_lifecycle(THEIRS, LifecycleEvent.STARTED)  # the predicate raises
    bridged.on_lifecycle(OURS, LifecycleEvent.STOPPED)
    assert sink.wait(1) == [(OURS, nova_event.EVENT_LIFECYCLE_STOPPED)]


def test_on_lifecycle_does_not_wait_for_nova(
    bridge: Callable[..., tuple[EventBridge, Sink]],
) -> None:
    """libvirt's event thread only queues: a slow Nova does not block it."""
    release = threading.Event()

    def slow(uuid: str) -> bool:
        release.wait(5)
        return True

    bridged, sink = bridge(slow)
    for _ in range(3):
        bridged.on_lifecycle(OURS, LifecycleEvent.STARTED)  # returns at once
    release.set()
    assert len(sink.wait(3)) == 3


def test_stop_ends_the_thread() -> None:
    bridged = EventBridge(lambda uuid: True, lambda event: None)
    thread = bridged._thread
    assert thread.is_alive()
    assert thread.daemon
    bridged.stop()
    assert not thread.is_alive()
