"""Schema migrations: an old database is upgraded in place, atomically."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from zcompute.model import InstanceState, new_uuid
from zcompute.state import MIGRATIONS, SCHEMA_VERSION, StateDB, StateError
from zcompute.state._schema import migrate, schema_version


def _version_1_database(path: Path) -> tuple[str, str]:
    """A database as the first zcompute release left it, with an image and an instance."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    image_id, uuid = new_uuid(), new_uuid()
    conn.execute(
        "INSERT INTO images (id, name, arch, disk_format, path, properties, size, sha256, "
        "created_at) VALUES (?, 'old-image', 's390x', 'raw', '/data/images/x/disk', '{}', 512, "
        "?, '2024-05-01T10:00:00+00:00')",
        (image_id, "f" * 64),
    )
    conn.execute(
        "INSERT INTO instances (uuid, name, state, task, arch, machine_type, domain_type, "
        "image_id, flavor_name, flavor, metadata, created_at, updated_at) VALUES "
        "(?, 'old-vm', 'running', NULL, 's390x', 's390-ccw-virtio', 'kvm', ?, 'custom', "
        '\'{"name":"custom","vcpus":2,"memory_mib":1024,"root_gib":5,"extra_specs":{}}\', '
        "'{}', '2024-05-01T10:00:00+00:00', '2024-05-01T10:00:00+00:00')",
        (uuid, image_id),
    )
    conn.close()
    return image_id, uuid


def test_version_1_database_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    image_id, uuid = _version_1_database(path)
    with StateDB(path) as db:
        assert db.schema_version == SCHEMA_VERSION == 9
        old = db.get_instance(uuid)
        assert old.name == "old-vm"
        assert old.state is InstanceState.RUNNING
        assert old.image.id == image_id
        assert old.flavor.vcpus == 2
        assert old.config_drive is None  # migration 5: instances made before have none
        assert old.serial_port is None  # migration 6: nor a console port
        assert old.rescue is None  # migration 8: nor is it rescued
        # migration 2 seeded the built-in flavors into the old database
        assert {f.name for f in db.list_flavors()} == {"tiny", "small", "medium"}
        # the flavor ephemeral/swap migration: flavors and flavor copies made before have none
        assert (old.flavor.ephemeral_gib, old.flavor.swap_mib) == (0, 0)
        assert {(f.ephemeral_gib, f.swap_mib) for f in db.list_flavors()} == {(0, 0)}
        # migration 3 added the volume connection column
        assert db.volume_connections(uuid) == {}
        # migration 4 added the task owner: an old record has none
        assert db.task_owner(uuid) is None


def test_deleted_builtin_flavors_stay_deleted_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with StateDB(path) as db:
        db.delete_flavor("medium")
    with StateDB(path) as db:
        assert "medium" not in {f.name for f in db.list_flavors()}


def test_database_from_a_newer_zcompute_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    StateDB(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="newer than"):
        StateDB(path)
    conn = sqlite3.connect(path)
    assert schema_version(conn) == SCHEMA_VERSION + 5
    conn.close()


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    StateDB(path).close()
    broken = (*MIGRATIONS, ("CREATE TABLE volumes (id TEXT)", "THIS IS NOT SQL"))
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    assert schema_version(conn) == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "volumes" not in tables
    conn.close()


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="cannot use state database"):
        StateDB(path)
