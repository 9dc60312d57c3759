"""``list_instances``: one bulk stats call, every record listed with libvirt's live state."""

from __future__ import annotations

from zcompute.driver import ComputeDriver, InstanceInfo
from zcompute.model import InstanceState

from .driver_support import FLAVOR, Recorder


def test_each_kind_of_guest_is_listed_with_its_live_state(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    running = recorded()
    paused = recorded()
    test_driver.pause(paused.name)
    stopped = recorded(InstanceState.SHUTOFF, start=False)
    suspended = recorded()
    test_driver.suspend(suspended.name)
    gone = recorded()
    test_driver.hv.conn.lookupByUUIDString(gone.uuid).destroy()
    test_driver.hv.conn.lookupByUUIDString(gone.uuid).undefine()

    listed = {info.name: info for info in test_driver.list_instances()}

    assert {name: info.state for name, info in listed.items()} == {
        running.name: InstanceState.RUNNING,
        paused.name: InstanceState.PAUSED,
        stopped.name: InstanceState.SHUTOFF,
        suspended.name: InstanceState.SUSPENDED,
        gone.name: InstanceState.ERROR,  # a record whose domain vanished is shown, not hidden
    }
    # the test driver reports no sizes: the recorded flavor's fill in
    assert listed[running.name] == InstanceInfo(
        running.uuid,
        running.name,
        InstanceState.RUNNING,
        FLAVOR.memory_mib * 1024,
        FLAVOR.memory_mib * 1024,
        FLAVOR.vcpus,
        listed[running.name].cpu_time_ns,
    )
    assert listed[gone.name][3:] == (0, 0, 0, 0)
    assert list(listed) == sorted(listed)  # ordered by name
    assert test_driver.destroy(gone.uuid)  # removes the stale record


def test_a_listing_follows_changes_to_the_records(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    first = recorded()
    assert [i.uuid for i in test_driver.list_instances()] == [first.uuid]
    second = recorded()
    assert {i.uuid for i in test_driver.list_instances()} == {first.uuid, second.uuid}
