"""Power operations on libvirt's test driver: state changes, wrong-state errors, host boot."""

from __future__ import annotations

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import Conflict, InvalidInput, InvalidState
from zcompute.images import GIB
from zcompute.model import InstanceState, Task
from zcompute.virt import PowerState

from .driver_support import Recorder

RUNNING, PAUSED, SHUTOFF = InstanceState.RUNNING, InstanceState.PAUSED, InstanceState.SHUTOFF
SUSPENDED = InstanceState.SUSPENDED


def _snapshot(drv: ComputeDriver, name: str) -> tuple[InstanceState, Task | None, PowerState]:
    inst = drv.get_instance(name)
    return inst.state, inst.task, drv.domains.state(inst.uuid)


def test_pause_unpause_and_the_state_they_leave(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    inst = recorded()
    assert test_driver.pause(inst.name).state is PAUSED
    assert test_driver.get_info(inst.name).state is PAUSED
    assert test_driver.unpause(inst.name).state is RUNNING
    assert _snapshot(test_driver, inst.name) == (RUNNING, None, PowerState.RUNNING)


@pytest.mark.parametrize(
    ("operation", "start", "message"),
    [
        ("pause", False, "cannot pause instance .*: it is shutoff \\(allowed: running\\)"),
        ("unpause", True, "cannot unpause instance .*: it is running \\(allowed: paused\\)"),
        ("resume", True, "cannot resume instance .*: it is running \\(allowed: suspended\\)"),
        ("power_on", True, "cannot power on instance .*: it is running"),
        ("suspend", False, "cannot suspend instance .*: it is shutoff"),
        ("trigger_crash_dump", False, "cannot crash-dump instance .*: it is shutoff"),
        ("power_off", False, "cannot power off instance .*: it is shutoff"),
    ],
)
def test_an_operation_in_the_wrong_state_changes_nothing(
    test_driver: ComputeDriver, recorded: Recorder, operation: str, start: bool, message: str
) -> None:
    inst = recorded(RUNNING if start else SHUTOFF, start=start)
    before = _snapshot(test_driver, inst.name)
    with pytest.raises(InvalidState, match=message):
        getattr(test_driver, operation)(inst.name)
    assert _snapshot(test_driver, inst.name) == before


def test_suspend_keeps_memory_in_a_managed_save_and_resume_restores_it(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    inst = recorded()
    assert test_driver.suspend(inst.name).state is SUSPENDED
    assert test_driver.domains.has_managed_save(inst.uuid)
    assert test_driver.get_info(inst.name).state is SUSPENDED
    listed = {i.name: i.state for i in test_driver.list_instances()}
    assert listed[inst.name] is SUSPENDED
    with pytest.raises(InvalidState, match=r"it is suspended \(allowed: crashed, shutoff\)"):
        test_driver.power_on(inst.name)
    assert test_driver.resume(inst.name).state is RUNNING
    assert not test_driver.domains.has_managed_save(inst.uuid)


def test_power_off_gracefully_then_forced_and_on_again(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    inst = recorded()
    assert test_driver.power_off(inst.name, timeout=5) is True  # the test driver obeys at once
    assert test_driver.live_state(inst.uuid).reason == "shutdown"
    assert test_driver.get_instance(inst.name).state is SHUTOFF
    assert test_driver.power_on(inst.name).state is RUNNING
    assert test_driver.power_off(inst.name, timeout=0) is False  # timeout 0: forced at once
    assert test_driver.live_state(inst.uuid).reason == "destroyed"
    test_driver.power_on(inst.name)
    test_driver.pause(inst.name)
    assert test_driver.power_off(inst.name) is False  # a paused guest cannot answer
    assert test_driver.get_instance(inst.name).state is SHUTOFF


@pytest.mark.parametrize("timeout", [-1, "10", True, float("nan"), float("inf"), 10**9])
def test_power_off_refuses_a_bad_timeout(
    test_driver: ComputeDriver, recorded: Recorder, timeout: object
) -> None:
    inst = recorded()
    with pytest.raises(InvalidInput, match=r"timeout: .*allowed: seconds from 0 to 604800"):
        test_driver.power_off(inst.name, timeout=timeout)  # type: ignore[arg-type]
    assert _snapshot(test_driver, inst.name) == (RUNNING, None, PowerState.RUNNING)


def test_soft_reboot_needs_a_running_guest(test_driver: ComputeDriver, recorded: Recorder) -> None:
    inst = recorded()
    test_driver.pause(inst.name)
    with pytest.raises(InvalidState, match=r"cannot reboot instance .*: it is paused"):
        test_driver.reboot(inst.name)
    assert _snapshot(test_driver, inst.name) == (PAUSED, None, PowerState.PAUSED)


def test_crash_dump_of_a_running_guest(test_driver: ComputeDriver, recorded: Recorder) -> None:
    inst = recorded()
    test_driver.trigger_crash_dump(inst.name)  # the test driver accepts the NMI and runs on
    assert _snapshot(test_driver, inst.name) == (RUNNING, None, PowerState.RUNNING)


def test_snapshot_of_a_stopped_guest_records_its_kernel(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    inst = recorded(SHUTOFF, start=False)
    disk = test_driver.root_disk_path(inst.uuid)
    disk.parent.mkdir(parents=True)
    test_driver.images.create_blank(disk, 1)
    image = test_driver.snapshot(inst.name, "unit-snap")
    assert image.disk_format == "qcow2"
    assert image.virtual_size == GIB
    assert image.arch == "x86_64"
    assert image.prop("kernel_id") == inst.image.id  # the kernel it boots with
    assert test_driver.boot_image_for(image) == inst.image
    with pytest.raises(Conflict, match="an image named 'unit-snap' already exists"):
        test_driver.snapshot(inst.name, "unit-snap")
    assert _snapshot(test_driver, inst.name) == (SHUTOFF, None, PowerState.SHUTOFF)


def test_snapshot_without_a_root_disk_is_refused(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    inst = recorded(SHUTOFF, start=False)
    with pytest.raises(InvalidState, match="has no root disk to snapshot"):
        test_driver.snapshot(inst.name, "unit-snap")
    with pytest.raises(InvalidInput, match="image_name: invalid name"):
        test_driver.snapshot(inst.name, "bad/name")
    assert [i.name for i in test_driver.images.list()] == ["unit-kernel"]


def test_host_boot_leaves_guests_that_are_as_recorded_or_stopped_on_purpose(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    running = recorded()
    stopped = recorded(SHUTOFF, start=False)
    shut_itself = recorded()
    test_driver.domains.shutdown(shut_itself.uuid)  # as if the guest powered itself off
    busy = recorded()
    test_driver.db.begin_task(busy.uuid, Task.REBOOTING)
    report = test_driver.resume_state_on_host_boot()
    assert report.running == (running.name,)
    assert sorted(report.left) == sorted([stopped.name, shut_itself.name])
    assert report.busy == (busy.name,)
    assert report.started == ()
    assert report.failed == ()
    assert test_driver.get_instance(shut_itself.name).state is SHUTOFF
