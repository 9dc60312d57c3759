"""Interrupted operations: a task whose process is gone is recovered, never left standing.

The domains live on libvirt's test driver; a killed process is a recorded task owner whose
process has exited (a real pid, a real exit).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.driver.driver_support import Recorder

from zcompute.driver import ComputeDriver
from zcompute.errors import Conflict, InvalidState, NotFound
from zcompute.model import BlockDeviceSpec, InstanceState, Task
from zcompute.state import owner_alive, this_process


def _dead_owner() -> str:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    boot = this_process().split(":")[0]
    return f"{boot}:{int(done.stdout)}:12345"


@pytest.fixture
def live_owner() -> Iterator[str]:
    """The owner string of another process that keeps running during the test."""
    code = "from zcompute.state import this_process as t; print(t(), flush=True); input()"
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    yield child.stdout.readline().strip()
    child.kill()
    child.wait()


def _interrupt(driver: ComputeDriver, uuid: str, task: Task, owner: str) -> None:
    with driver.db.transaction():
        driver.db._execute(
            "UPDATE instances SET task = ?, task_owner = ? WHERE uuid = ?",
            (task.value, owner, uuid),
        )


def test_owners_are_alive_while_their_process_runs(live_owner: str) -> None:
    assert owner_alive(this_process())
    assert owner_alive(live_owner)
    assert not owner_alive(_dead_owner())
    assert not owner_alive(None)
    assert not owner_alive("another-boot:1:1")


def test_a_task_of_a_dead_process_is_recovered_by_the_next_operation(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    inst = recorded()
    _interrupt(test_driver, inst.uuid, Task.PAUSING, _dead_owner())
    assert [i.name for i in test_driver.db.orphaned_tasks()] == [inst.name]
    test_driver.pause(inst.name)  # not "busy with task 'pausing'"
    after = test_driver.get_instance(inst.name)
    assert (after.state, after.task) == (InstanceState.PAUSED, None)
    assert test_driver.db.orphaned_tasks() == []


def test_a_task_of_a_live_process_keeps_the_instance_busy(
    test_driver: ComputeDriver, recorded: Recorder, live_owner: str
) -> None:
    inst = recorded()
    _interrupt(test_driver, inst.uuid, Task.SNAPSHOTTING, live_owner)
    assert test_driver.db.orphaned_tasks() == []
    with pytest.raises(InvalidState, match="busy with task 'snapshotting'"):
        test_driver.pause(inst.name)
    with pytest.raises(InvalidState, match="another process"):
        test_driver.destroy(inst.name)
    assert test_driver.instance_exists(inst.name)


def test_an_interrupted_spawn_is_undone_and_frees_its_name(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    inst = recorded()
    folder = test_driver.instances_dir / inst.uuid
    folder.mkdir()
    (folder / "disk.qcow2").write_bytes(b"half made")
    _interrupt(test_driver, inst.uuid, Task.SPAWNING, _dead_owner())
    report = test_driver.recover_leftovers()
    assert report.actions == (f"{inst.name}: interrupted spawn undone (domain, disks and record "
                              "removed)",)  # fmt: skip
    with pytest.raises(NotFound):
        test_driver.get_instance(inst.name)
    assert test_driver.domains.uuid_of(inst.name) is None
    assert not folder.exists()


def test_an_interrupted_delete_is_finished(test_driver: ComputeDriver, recorded: Recorder) -> None:
    inst = recorded()
    _interrupt(test_driver, inst.uuid, Task.DESTROYING, _dead_owner())
    assert test_driver.destroy(inst.name)  # not refused: its owner is gone
    assert test_driver.domains.uuid_of(inst.name) is None


def test_an_interrupted_detach_is_finished(
    test_driver: ComputeDriver, recorded: Recorder, tmp_path: Path
) -> None:
    """The record names a disk the domain no longer has: the detach was killed before it
    forgot the disk. (An interrupted attach, a disk the record lacks, needs a libvirt that can
    detach: tests/e2e/test_interruptions.py.)"""
    inst = recorded(InstanceState.SHUTOFF, start=False)
    detached = tmp_path / "detached.img"
    detached.write_bytes(b"\0" * 512)
    test_driver.db.add_attachment(inst.uuid, BlockDeviceSpec(detached, "vdc"))
    _interrupt(test_driver, inst.uuid, Task.DETACHING_VOLUME, _dead_owner())
    (action,) = test_driver.recover_leftovers().actions
    assert "half-detached disk vdc detached, its record dropped" in action
    after = test_driver.get_instance(inst.name)
    assert (after.task, after.block_devices) == (None, ())


def test_repair_removes_domains_of_this_data_dir_without_a_record(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    inst = recorded()
    with test_driver.db.transaction():
        test_driver.db._execute("DELETE FROM instances WHERE uuid = ?", (inst.uuid,))
    report = test_driver.repair()
    assert f"domain {inst.name} had no record: removed with its files" in report.actions
    assert test_driver.domains.uuid_of(inst.name) is None
    assert test_driver.repair().actions == ()  # nothing left to do


def test_repair_leaves_domains_of_other_data_dirs_alone(
    test_driver: ComputeDriver, tmp_path: Path
) -> None:
    other = ComputeDriver(test_driver.config.__class__(
        uri="test:///default", virt_type="qemu", data_dir=tmp_path / "other"))  # fmt: skip
    try:
        assert test_driver.repair().actions == ()
        assert test_driver.domains.uuid_of("test") is not None  # libvirt's own test domain
    finally:
        other.close()


def _disk_folder(driver: ComputeDriver, uuid: str) -> Path:
    """The instance folder of ``uuid`` with a disk holding the guest's data."""
    folder = driver.instances_dir / uuid
    folder.mkdir(exist_ok=True)
    (folder / "disk.qcow2").write_bytes(b"the guest's data")
    return folder


def test_a_delete_that_keeps_the_disks_removes_all_but_the_folder(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    """Nova's destroy_disks=False (shared storage, evacuation): the guest goes, its disks stay."""
    inst = recorded()
    folder = _disk_folder(test_driver, inst.uuid)
    assert test_driver.destroy(inst.name, keep_disks=True)
    with pytest.raises(NotFound):
        test_driver.get_instance(inst.name)
    assert test_driver.domains.uuid_of(inst.name) is None
    assert (folder / "disk.qcow2").read_bytes() == b"the guest's data"


def test_an_interrupted_delete_that_keeps_the_disks_is_finished_keeping_them(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    inst = recorded()
    folder = _disk_folder(test_driver, inst.uuid)
    _interrupt(test_driver, inst.uuid, Task.RELEASING, _dead_owner())
    (action,) = test_driver.recover_leftovers().actions
    assert action == f"{inst.name}: interrupted delete finished (its disks kept, as asked)"
    assert test_driver.domains.uuid_of(inst.name) is None
    assert (folder / "disk.qcow2").read_bytes() == b"the guest's data"


def test_kept_disks_are_removed_when_asked_and_never_an_instances(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    inst, other = recorded(), recorded()
    folder = _disk_folder(test_driver, inst.uuid)
    test_driver.destroy(inst.name, keep_disks=True)
    with pytest.raises(Conflict, match="exists: delete it instead"):
        test_driver.remove_kept_disks(other.uuid)
    assert test_driver.remove_kept_disks(inst.uuid)
    assert not folder.exists()
    assert not test_driver.remove_kept_disks(inst.uuid)  # nothing left: nothing to do
