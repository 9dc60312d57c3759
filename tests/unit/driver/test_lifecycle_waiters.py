"""Routing libvirt's device-removed and block-job events to the operation waiting for them."""

from __future__ import annotations

import threading

from zcompute.driver._waiters import DomainEvents
from zcompute.virt import BlockJobStatus, Hypervisor

UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def _hub() -> DomainEvents:
    return DomainEvents(Hypervisor("test:///default"))


def test_an_event_that_comes_back_before_the_wait_is_not_lost() -> None:
    hub = _hub()
    with hub.expect_removal(UUID, "virtio-disk1") as removed:
        hub._device_removed(UUID, "virtio-disk1")  # as libvirt's event thread would
        assert removed.wait(0) == "virtio-disk1"


def test_events_reach_only_the_waiter_they_are_for() -> None:
    hub = _hub()
    with hub.expect_removal(UUID, "net1") as net, hub.expect_block_job(UUID, "vda") as job:
        hub._device_removed(UUID, "virtio-disk1")
        hub._device_removed("another-guest", "net1")
        hub._block_job(UUID, "vdb", BlockJobStatus.READY)
        # events are handed over in the calling thread: none can still be on its way
        assert net.wait(0) is None
        assert job.wait(0) is None
        hub._block_job(UUID, "vda", BlockJobStatus.READY)
        hub._block_job(UUID, "vda", BlockJobStatus.COMPLETED)  # later news does not overwrite
        assert job.wait(0) is BlockJobStatus.READY


def test_a_waiter_wakes_up_when_the_event_arrives_from_another_thread() -> None:
    hub = _hub()
    with hub.expect_removal(UUID, "virtio-disk2") as removed:
        timer = threading.Timer(0.05, hub._device_removed, (UUID, "virtio-disk2"))
        timer.start()
        assert removed.wait(60) == "virtio-disk2"  # the event's value: it woke on the event


def test_a_finished_wait_unregisters_its_waiter() -> None:
    hub = _hub()
    with hub.expect_removal(UUID, "net0"):
        pass
    assert hub._waiters == {}
