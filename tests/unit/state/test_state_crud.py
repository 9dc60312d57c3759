"""CRUD of the state database, against a real SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from zcompute.errors import Conflict, InvalidInput, InvalidState, NotFound
from zcompute.model import (
    BlockDeviceSpec,
    Flavor,
    Image,
    Instance,
    InstanceState,
    NICSpec,
    Task,
    generate_mac,
)
from zcompute.state import SCHEMA_VERSION, StateDB

from .state_support import FLAVOR, make_image

NewInstance = Callable[..., Instance]


def test_database_is_wal_with_foreign_keys_private_and_current(db: StateDB, db_path: Path) -> None:
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        raw.close()
    assert db._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    assert db.schema_version == SCHEMA_VERSION


# --- flavors ---------------------------------------------------------------------------


def test_builtin_flavors_can_be_extended_and_deleted(db: StateDB) -> None:
    assert [f.name for f in db.list_flavors()] == ["tiny", "small", "medium"]
    assert db.get_flavor("small") == Flavor("small", 1, 2048, 20)
    db.add_flavor(FLAVOR)
    assert db.get_flavor("test").extra_specs == {"hw:cpu_mode": "host-model"}
    with pytest.raises(Conflict, match="'test' already exists"):
        db.add_flavor(FLAVOR)
    db.delete_flavor("tiny")
    with pytest.raises(NotFound):
        db.get_flavor("tiny")
    with pytest.raises(NotFound):
        db.delete_flavor("tiny")


# --- images ----------------------------------------------------------------------------


def test_images_round_trip_and_are_found_by_name_or_id(db: StateDB, image: Image) -> None:
    assert db.get_image(image.id) == image
    assert db.find_image("debian") == image
    assert db.find_image(image.id.upper()) == image
    assert db.list_images() == [image]
    with pytest.raises(NotFound, match="image 'nope' not found"):
        db.find_image("nope")


def test_duplicate_image_name_is_a_conflict(db: StateDB, image: Image) -> None:
    with pytest.raises(Conflict):
        db.add_image(make_image("debian"))
    assert db.list_images() == [image]


def test_image_in_use_cannot_be_deleted(
    db: StateDB, image: Image, new_instance: NewInstance
) -> None:
    db.add_instance(new_instance("vm-a"))
    with pytest.raises(Conflict, match="in use by instances: vm-a"):
        db.delete_image(image.id)
    assert db.image_users(image.id) == ["vm-a"]
    db.delete_instance(db.get_instance("vm-a").uuid)
    db.delete_image(image.id)
    with pytest.raises(NotFound):
        db.delete_image(image.id)


# --- instances -------------------------------------------------------------------------


def test_instance_round_trip_with_devices(db: StateDB, new_instance: NewInstance) -> None:
    inst = new_instance(
        "vm-a",
        block_devices=(BlockDeviceSpec(Path("/dev/sdb"), "vdb", serial="vol-1", readonly=True),),
        nics=(
            NICSpec(network="default", mac=generate_mac(), model="virtio"),
            NICSpec(bridge="br0", mac=generate_mac(), mtu=9000),
            NICSpec(tap="tap3f2a9c1e-7b", mac=generate_mac(), mtu=1400),
            NICSpec(tap="zct1", mac=generate_mac()),
        ),
    )
    db.add_instance(inst)
    assert db.get_instance(inst.uuid) == inst
    assert db.get_instance("vm-a") == inst
    assert db.list_instances() == [inst]


def test_a_nic_recorded_before_taps_and_mtus_reads_as_neither(
    db: StateDB, new_instance: NewInstance
) -> None:
    mac = generate_mac()
    inst = db.add_instance(new_instance("vm-a", nics=(NICSpec(bridge="br0", mac=mac),)))
    old = json.dumps({"network": None, "bridge": "br0", "model": None})  # an older row's keys
    db._conn.execute("UPDATE attachments SET source = ? WHERE target = ?", (old, mac))
    [nic] = db.get_instance(inst.uuid).nics
    assert nic == NICSpec(bridge="br0", mac=mac)
    assert (nic.tap, nic.mtu) == (None, None)


def test_instance_keeps_its_flavor_copy_when_the_flavor_goes(
    db: StateDB, new_instance: NewInstance
) -> None:
    db.add_flavor(FLAVOR)
    inst = db.add_instance(new_instance("vm-a"))
    db.delete_flavor(FLAVOR.name)
    assert db.get_instance(inst.uuid).flavor == FLAVOR


def test_ephemeral_and_swap_sizes_round_trip_and_old_rows_read_as_none(
    db: StateDB, new_instance: NewInstance
) -> None:
    scratch = Flavor("scratch", 1, 128, 1, ephemeral_gib=2, swap_mib=64)
    db.add_flavor(scratch)
    assert db.get_flavor("scratch") == scratch
    inst = db.add_instance(new_instance("vm-a", flavor=scratch))
    assert db.get_instance(inst.uuid).flavor == scratch
    # rows written before the sizes existed: the flavor column's defaults, the copy's keys
    db._conn.execute(
        "INSERT INTO flavors (name, vcpus, memory_mib, root_gib) VALUES ('old', 1, 128, 1)"
    )
    assert db.get_flavor("old") == Flavor("old", 1, 128, 1)
    old = json.dumps({"name": "old", "vcpus": 1, "memory_mib": 128, "root_gib": 1})
    db._conn.execute("UPDATE instances SET flavor = ? WHERE uuid = ?", (old, inst.uuid))
    flavor = db.get_instance(inst.uuid).flavor
    assert (flavor.ephemeral_gib, flavor.swap_mib) == (0, 0)


def test_duplicate_instance_name_is_a_conflict_and_nothing_is_written(
    db: StateDB, new_instance: NewInstance
) -> None:
    db.add_instance(new_instance("vm-a"))
    twin = new_instance("vm-a", nics=(NICSpec(network="n", mac=generate_mac()),))
    with pytest.raises(Conflict, match="'vm-a'"):
        db.add_instance(twin)
    assert len(db.list_instances()) == 1
    assert db._conn.execute("SELECT COUNT(*) FROM attachments").fetchone()[0] == 0


def test_instance_of_an_unknown_image_is_refused(db: StateDB, new_instance: NewInstance) -> None:
    with pytest.raises(NotFound, match="image"):
        db.add_instance(new_instance("vm-a", image=make_image("elsewhere")))


def test_nic_without_mac_cannot_be_recorded(db: StateDB, new_instance: NewInstance) -> None:
    with pytest.raises(InvalidInput) as info:
        db.add_instance(new_instance("vm-a", nics=(NICSpec(network="default"),)))
    assert info.value.field == "nic.mac"
    assert db.list_instances() == []


def test_update_validates_and_touches_updated_at(db: StateDB, new_instance: NewInstance) -> None:
    inst = db.add_instance(new_instance("vm-a"))
    changed = db.update_instance(inst.uuid, state="running", metadata={"owner": "dev"})
    assert changed.state is InstanceState.RUNNING
    assert changed.updated_at > inst.updated_at
    assert db.get_instance(inst.uuid) == changed
    with pytest.raises(InvalidInput, match="cannot update name"):
        db.update_instance(inst.uuid, name="other")
    with pytest.raises(InvalidInput):
        db.update_instance(inst.uuid, state="flying")
    assert db.get_instance(inst.uuid) == changed


def test_tasks_begin_end_and_refuse_overlap(db: StateDB, new_instance: NewInstance) -> None:
    inst = db.add_instance(new_instance("vm-a"))
    assert db.begin_task(inst.uuid, Task.SPAWNING).task is Task.SPAWNING
    assert db.instances_with_task() == [db.get_instance(inst.uuid)]
    with pytest.raises(InvalidState, match="busy with task 'spawning'"):
        db.begin_task(inst.uuid, "destroying")
    done = db.end_task(inst.uuid, InstanceState.RUNNING)
    assert (done.task, done.state) == (None, InstanceState.RUNNING)
    assert db.instances_with_task() == []


def test_delete_instance_cascades_to_attachments(db: StateDB, new_instance: NewInstance) -> None:
    inst = db.add_instance(new_instance("vm-a", nics=(NICSpec(network="n", mac=generate_mac()),)))
    db.delete_instance(inst.uuid)
    assert db.list_instances() == []
    assert db._conn.execute("SELECT COUNT(*) FROM attachments").fetchone()[0] == 0
    with pytest.raises(NotFound):
        db.delete_instance(inst.uuid)
    db.delete_instance(inst.uuid, missing_ok=True)


def test_attachments_added_and_removed(db: StateDB, new_instance: NewInstance) -> None:
    inst = db.add_instance(new_instance("vm-a"))
    volume = BlockDeviceSpec(Path("/dev/disk/by-path/ccw-0.0.3080-fc-0x5005-lun-2"), "vdb")
    nic = NICSpec(network="default", mac="52:54:00:00:00:0a")
    db.add_attachment(inst.uuid, volume)
    after = db.add_attachment(inst.uuid, nic)
    assert after.block_devices == (volume,)
    assert after.nics == (nic,)
    with pytest.raises(Conflict, match="volume vdb is already attached"):
        db.add_attachment(inst.uuid, BlockDeviceSpec(Path("/dev/sdc"), "vdb"))
    gone = db.remove_attachment(inst.uuid, "nic", "52:54:00:00:00:0A")
    assert gone.nics == ()
    assert gone.block_devices == (volume,)
    with pytest.raises(NotFound):
        db.remove_attachment(inst.uuid, "volume", "vdz")
    with pytest.raises(InvalidInput, match="unknown attachment kind"):
        db.remove_attachment(inst.uuid, "gpu", "x")


def test_nic_order_is_preserved(db: StateDB, new_instance: NewInstance) -> None:
    macs = [f"52:54:00:00:00:{n:02x}" for n in (9, 3, 7, 1)]
    inst = db.add_instance(
        new_instance("vm-a", nics=tuple(NICSpec(network="n", mac=m) for m in macs))
    )
    assert [n.mac for n in db.get_instance(inst.uuid).nics] == macs


# --- transactions ----------------------------------------------------------------------


def test_transaction_is_all_or_nothing(db: StateDB, new_instance: NewInstance) -> None:
    first = new_instance("vm-a")

    def spawn_then_fail() -> None:
        with db.transaction():
            db.add_instance(first)
            db.begin_task(first.uuid, Task.SPAWNING)
            raise RuntimeError("crash in the middle")

    with pytest.raises(RuntimeError):
        spawn_then_fail()
    assert db.list_instances() == []
    with db.transaction():
        db.add_instance(first)
        db.begin_task(first.uuid, Task.SPAWNING)
    assert db.get_instance("vm-a").task is Task.SPAWNING


def test_nested_failure_rolls_back_only_the_inner_block(
    db: StateDB, new_instance: NewInstance
) -> None:
    with db.transaction():
        db.add_instance(new_instance("vm-a"))
        with pytest.raises(Conflict):
            db.add_instance(new_instance("vm-a"))  # inner savepoint rolls back
        db.add_instance(new_instance("vm-b"))
    assert [i.name for i in db.list_instances()] == ["vm-a", "vm-b"]


def test_reopening_sees_committed_data(db_path: Path, new_instance: NewInstance) -> None:
    with StateDB(db_path) as again:
        again.add_instance(new_instance("vm-a"))
    with StateDB(db_path) as third:
        assert [i.name for i in third.list_instances()] == ["vm-a"]
