"""The state database: instances, images, flavors and attachments in one SQLite file.

Design choices:

* One connection guarded by a re-entrant lock. SQLite calls here take microseconds, so
  serialising them costs nothing measurable, and the lock makes nested transactions and
  thread safety trivially right. Other *processes* (a CLI next to a service) are handled by
  SQLite itself: WAL mode lets readers proceed during a write, and a busy timeout makes a
  writer wait for the other one instead of failing.
* Write transactions start with ``BEGIN IMMEDIATE`` so that the write lock is taken up front;
  a read-then-write transaction can then never fail half-way with "database is locked".
* ``synchronous=FULL``: a committed ``begin_task`` must survive a power cut, since it is what
  tells the next start which operation was interrupted.
* Every method that changes rows runs in :meth:`StateDB.transaction`; calling several of them
  inside one ``with db.transaction():`` block makes them one atomic unit (inner blocks become
  savepoints).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID

from zcompute.errors import Conflict, InvalidInput, InvalidState, NotFound, Timeout, ZcomputeError
from zcompute.model import (
    BlockDeviceSpec,
    Flavor,
    Image,
    Instance,
    InstanceState,
    NICSpec,
    Rescue,
    Task,
    UnusableRecord,
    utcnow,
    validate_uuid,
)
from zcompute.state import _codec as codec
from zcompute.state._journal import SwapJournalRecords
from zcompute.state._owner import owner_alive, this_process
from zcompute.state._schema import StateError, migrate, schema_version

__all__ = ["UPDATABLE_FIELDS", "StateDB"]

#: Instance fields that :meth:`StateDB.update_instance` may change.
UPDATABLE_FIELDS = ("state", "task", "machine_type", "domain_type", "metadata")


def _translate(err: sqlite3.Error) -> ZcomputeError:
    """Map an SQLite error that no caller anticipated into zcompute's hierarchy."""
    text = str(err)
    if isinstance(err, sqlite3.IntegrityError):
        return Conflict(f"state database constraint: {text}")
    if isinstance(err, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return Timeout(f"state database stayed locked by another writer: {text}")
    return StateError(f"state database error: {text}")


@dataclasses.dataclass(frozen=True)
class InstanceSummary:
    """An instance's identity and configured size, without loading the whole record."""

    uuid: str
    name: str
    vcpus: int
    memory_mib: int
    uuid_bytes: bytes  # the 16 raw bytes, which libvirt hands out cheaper than the string
    memory_kib: int


class StateDB(SwapJournalRecords):
    """zcompute's persistent state (see the module documentation for the design)."""

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        # The instance index is cached until this connection writes or another one commits
        # (SQLite's data_version changes then), so listing many guests costs no query.
        self._writes = 0
        self._index: tuple[tuple[int, int], list[InstanceSummary]] | None = None
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as err:
            raise StateError(f"cannot open state database {self.path}: {err}") from err
        self._conn.row_factory = sqlite3.Row
        try:
            self._configure()
            migrate(self._conn)
        except sqlite3.Error as err:
            self._conn.close()
            raise StateError(f"cannot use state database {self.path}: {err}") from err
        except BaseException:
            self._conn.close()
            raise

    def _configure(self) -> None:
        mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StateError(f"{self.path}: the file system does not support WAL (got {mode})")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA synchronous = FULL")
        # The database says which guests exist and what they run: not for other users.
        os.chmod(self.path, 0o600)

    # --- connection and transactions --------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return schema_version(self._conn)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StateDB]:
        """One atomic unit of writes; nested blocks roll back only their own part on error."""
        with self._unit("BEGIN IMMEDIATE"):
            yield self

    @contextlib.contextmanager
    def _unit(self, begin: str) -> Iterator[None]:
        with self._lock:
            savepoint = f"sp{self._depth}" if self._depth else None
            try:
                self._conn.execute(f"SAVEPOINT {savepoint}" if savepoint else begin)
            except sqlite3.Error as err:
                raise _translate(err) from err
            self._depth += 1
            try:
                yield
            except BaseException as err:
                self._depth -= 1
                self._undo(savepoint)
                if isinstance(err, sqlite3.Error):
                    raise _translate(err) from err
                raise
            self._depth -= 1
            try:
                self._conn.execute(f"RELEASE {savepoint}" if savepoint else "COMMIT")
            except sqlite3.Error as err:
                self._undo(savepoint)
                raise _translate(err) from err
            if begin == "BEGIN IMMEDIATE":
                self._writes += 1

    def _undo(self, savepoint: str | None) -> None:
        if savepoint:
            self._conn.execute(f"ROLLBACK TO {savepoint}")
            self._conn.execute(f"RELEASE {savepoint}")
        elif self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _read(self) -> contextlib.AbstractContextManager[None]:
        """A consistent snapshot for reads that take more than one query."""
        return self._unit("BEGIN DEFERRED")

    def _rows(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self._read():
            return self._conn.execute(sql, params).fetchall()

    def _execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """Run one statement; the caller holds a transaction."""
        return self._conn.execute(sql, params)

    # --- images -------------------------------------------------------------------------

    def add_image(self, image: Image) -> Image:
        row = codec.image_row(image)
        columns = ", ".join(row)
        marks = ", ".join(f":{key}" for key in row)
        with self.transaction():
            try:
                self._execute(f"INSERT INTO images ({columns}) VALUES ({marks})", row)
            except sqlite3.IntegrityError as err:
                raise Conflict(
                    f"an image named {image.name!r} or with id {image.id} exists"
                ) from err
        return image

    def get_image(self, image_id: str) -> Image:
        rows = self._rows("SELECT * FROM images WHERE id = ?", (image_id.lower(),))
        if not rows:
            raise NotFound("image", image_id)
        return _usable(codec.image_or_unusable(rows[0]))

    def find_image(self, name_or_id: str) -> Image:
        """The image with this name or id (names never look like UUIDs, so this is unambiguous);
        InvalidInput, naming what is wrong, for an image today's rules refuse."""
        return _usable(self.find_image_record(name_or_id))

    def find_image_record(self, name_or_id: str) -> Image | UnusableRecord:
        """:meth:`find_image`, or the image as an :class:`UnusableRecord` (to delete it)."""
        rows = self._rows(
            "SELECT * FROM images WHERE name = ? OR id = ?", (name_or_id, name_or_id.lower())
        )
        if not rows:
            raise NotFound("image", name_or_id)
        return codec.image_or_unusable(rows[0])

    def list_images(self) -> list[Image | UnusableRecord]:
        """Every image; one that today's rules refuse as an :class:`UnusableRecord`."""
        rows = self._rows("SELECT * FROM images ORDER BY name")
        return [codec.image_or_unusable(r) for r in rows]

    def image_users(self, image_id: str) -> list[str]:
        """Names of the instances that use the image (and keep it from being deleted)."""
        rows = self._rows(
            "SELECT name FROM instances WHERE image_id = ? OR rescue_image_id = ? ORDER BY name",
            (image_id, image_id),
        )
        return [r["name"] for r in rows]

    def delete_image(self, image_id: str) -> None:
        """Forget an image record; refused with Conflict while an instance uses it."""
        with self.transaction():
            users = self.image_users(image_id)
            if users:
                raise Conflict(f"image {image_id} is in use by instances: {', '.join(users)}")
            if self._execute("DELETE FROM images WHERE id = ?", (image_id,)).rowcount == 0:
                raise NotFound("image", image_id)

    # --- flavors ------------------------------------------------------------------------

    def add_flavor(self, flavor: Flavor) -> Flavor:
        with self.transaction():
            try:
                self._execute(
                    "INSERT INTO flavors (name, vcpus, memory_mib, root_gib, extra_specs, "
                    "ephemeral_gib, swap_mib) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        flavor.name,
                        flavor.vcpus,
                        flavor.memory_mib,
                        flavor.root_gib,
                        codec.dump_json(flavor.extra_specs),
                        flavor.ephemeral_gib,
                        flavor.swap_mib,
                    ),
                )
            except sqlite3.IntegrityError as err:
                raise Conflict(f"a flavor named {flavor.name!r} already exists") from err
        return flavor

    def get_flavor(self, name: str) -> Flavor:
        """The flavor; InvalidInput, naming what is wrong, for one today's rules refuse."""
        rows = self._rows("SELECT * FROM flavors WHERE name = ?", (name,))
        if not rows:
            raise NotFound("flavor", name)
        return _usable(codec.flavor_or_unusable(rows[0]))

    def list_flavors(self) -> list[Flavor | UnusableRecord]:
        """Every flavor; one that today's rules refuse as an :class:`UnusableRecord`."""
        rows = self._rows("SELECT * FROM flavors ORDER BY vcpus, memory_mib, root_gib, name")
        return [codec.flavor_or_unusable(r) for r in rows]

    def delete_flavor(self, name: str) -> None:
        """Delete a flavor; instances keep their own copy of the flavor they were built with."""
        with self.transaction():
            if self._execute("DELETE FROM flavors WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound("flavor", name)

    # --- instances ----------------------------------------------------------------------

    def add_instance(self, instance: Instance) -> Instance:
        """Record a new instance with its block devices and NICs (NICs need their MAC)."""
        row = codec.instance_row(instance)
        columns = ", ".join(row)
        marks = ", ".join(f":{key}" for key in row)
        with self.transaction():
            self._require_image(instance.image)
            row["task_owner"] = None if instance.task is None else this_process()
            columns += ", task_owner"
            marks += ", :task_owner"
            try:
                self._execute(f"INSERT INTO instances ({columns}) VALUES ({marks})", row)
            except sqlite3.IntegrityError as err:
                if "serial_port" in str(err):
                    raise _port_taken(instance.serial_port) from err
                raise Conflict(
                    f"an instance named {instance.name!r} or with uuid {instance.uuid} exists"
                ) from err
            for volume in instance.block_devices:
                self._insert_attachment(instance.uuid, volume)
            for nic in instance.nics:
                self._insert_attachment(instance.uuid, nic)
        return instance

    def _require_image(self, image: Image) -> None:
        found = self._execute("SELECT 1 FROM images WHERE id = ?", (image.id,)).fetchone()
        if found is None:
            raise NotFound("image", image.id)

    def get_instance(self, uuid_or_name: str) -> Instance:
        key = _uuid_or_none(uuid_or_name) or uuid_or_name
        found = self._load_instances("WHERE uuid = ? OR name = ?", (key, key))
        if not found:
            raise NotFound("instance", uuid_or_name)
        return found[0]

    def instance_index(self) -> list[InstanceSummary]:
        """Name and flavor size of every instance: the cheap index for listing many guests."""
        query = (
            "SELECT uuid, name, json_extract(flavor, '$.vcpus'),"
            " json_extract(flavor, '$.memory_mib') FROM instances ORDER BY name"
        )
        with self._lock:
            key = (self._conn.execute("PRAGMA data_version").fetchone()[0], self._writes)
            if self._index is not None and self._index[0] == key:
                return self._index[1]
            rows = self._conn.execute(query).fetchall()
            index = [
                InstanceSummary(
                    str(r[0]), str(r[1]), int(r[2]), int(r[3]), UUID(r[0]).bytes, int(r[3]) * 1024
                )
                for r in rows
            ]
            self._index = (key, index)
            return index

    def list_instances(self) -> list[Instance]:
        return self._load_instances("", ())

    def instances_with_task(self) -> list[Instance]:
        """Instances whose last operation never finished (zcompute stopped or crashed in it)."""
        return self._load_instances("WHERE task IS NOT NULL", ())

    def orphaned_tasks(self) -> list[Instance]:
        """Instances whose task's owner process is gone: interrupted, to be recovered."""
        rows = self._execute(
            "SELECT uuid, task_owner FROM instances WHERE task IS NOT NULL"
        ).fetchall()
        stale = [row["uuid"] for row in rows if not owner_alive(row["task_owner"])]
        return [inst for inst in self.instances_with_task() if inst.uuid in stale]

    def task_owner(self, uuid: str) -> str | None:
        row = self._execute(
            "SELECT task_owner FROM instances WHERE uuid = ?", (uuid.lower(),)
        ).fetchone()
        return None if row is None else row["task_owner"]

    def _load_instances(self, where: str, params: tuple[str, ...]) -> list[Instance]:
        # Three queries whatever the number of instances: instances, their images, and all
        # their attachments; then joined in memory.
        with self._read():
            rows = self._execute(f"SELECT * FROM instances {where} ORDER BY name", params)
            rows_list = rows.fetchall()
            images = self._execute(
                f"SELECT * FROM images WHERE id IN (SELECT image_id FROM instances {where}"
                f" UNION SELECT rescue_image_id FROM instances {where})",
                params + params,
            ).fetchall()
            attachments = self._execute(
                "SELECT * FROM attachments WHERE instance_uuid IN "
                f"(SELECT uuid FROM instances {where}) ORDER BY id",
                params,
            ).fetchall()
        by_id = {r["id"]: codec.image_from_row(r) for r in images}
        per_instance: dict[str, list[sqlite3.Row]] = {}
        for att in attachments:
            per_instance.setdefault(att["instance_uuid"], []).append(att)
        return [
            codec.instance_from_row(
                r,
                by_id[r["image_id"]],
                per_instance.get(r["uuid"], []),
                by_id.get(r["rescue_image_id"] or ""),
            )
            for r in rows_list
        ]

    def update_instance(self, uuid: str, **changes: Any) -> Instance:
        """Change some of :data:`UPDATABLE_FIELDS`; the result is validated like a new Instance."""
        unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
        if unknown:
            raise InvalidInput("changes", f"cannot update {', '.join(unknown)}", UPDATABLE_FIELDS)
        with self.transaction():
            current = self.get_instance(uuid)
            return self._write(current.replace(**changes, updated_at=utcnow()))

    def _write(self, instance: Instance) -> Instance:
        row = codec.instance_row(instance)
        self._execute(
            "UPDATE instances SET state = :state, task = :task, machine_type = :machine_type, "
            "domain_type = :domain_type, metadata = :metadata, updated_at = :updated_at, "
            "task_owner = CASE WHEN :task IS NULL THEN NULL ELSE task_owner END "
            "WHERE uuid = :uuid",
            row,
        )
        return instance

    def set_flavor(self, uuid: str, flavor: Flavor) -> Instance:
        """Record the instance's new flavor (a resize, or its revert)."""
        with self.transaction():
            changed = self.get_instance(uuid).replace(flavor=flavor, updated_at=utcnow())
            self._execute(
                "UPDATE instances SET flavor = ?, flavor_name = ?, updated_at = ? WHERE uuid = ?",
                (
                    codec.flavor_to_json(flavor),
                    flavor.name,
                    codec.timestamp(changed.updated_at),
                    changed.uuid,
                ),
            )
            return changed

    def serial_ports(self) -> dict[int, str]:
        """The interactive console ports recorded, each with the uuid of its instance."""
        rows = self._rows("SELECT serial_port, uuid FROM instances WHERE serial_port IS NOT NULL")
        return {int(r[0]): str(r[1]) for r in rows}

    def set_serial_port(self, uuid: str, port: int) -> Instance:
        """Record the instance's interactive console port; Conflict if another instance has it."""
        with self.transaction():
            changed = self.get_instance(uuid).replace(serial_port=port, updated_at=utcnow())
            try:
                self._execute(
                    "UPDATE instances SET serial_port = ?, updated_at = ? WHERE uuid = ?",
                    (port, codec.timestamp(changed.updated_at), changed.uuid),
                )
            except sqlite3.IntegrityError as err:
                raise _port_taken(port) from err
            return changed

    def set_rescue(self, uuid: str, rescue: Rescue | None) -> Instance:
        """Record that the instance boots as ``rescue`` says (None: it is not rescued)."""
        with self.transaction():
            current = self.get_instance(uuid)
            if rescue is not None:
                self._require_image(rescue.image)
            changed = current.replace(rescue=rescue, updated_at=utcnow())
            columns = codec.rescue_columns(rescue)
            self._execute(
                "UPDATE instances SET rescue_image_id = :rescue_image_id, "
                "rescue_config_drive = :rescue_config_drive, updated_at = :updated_at "
                "WHERE uuid = :uuid",
                {
                    **columns,
                    "updated_at": codec.timestamp(changed.updated_at),
                    "uuid": current.uuid,
                },
            )
            return changed

    def begin_task(self, uuid: str, task: Task | str) -> Instance:
        """Mark ``task`` as running on the instance; refused while another task runs."""
        with self.transaction():
            current = self.get_instance(uuid)
            if current.task is not None:
                raise InvalidState(
                    f"instance {current.name} is busy with task {current.task.value!r}; "
                    f"cannot start {str(task)!r}"
                )
            written = self._write(current.replace(task=task, updated_at=utcnow()))
            self._execute(
                "UPDATE instances SET task_owner = ? WHERE uuid = ?", (this_process(), current.uuid)
            )
            return written

    def record_observed_state(self, seen: Instance, state: InstanceState | str) -> bool:
        """Record ``state`` for an instance read as ``seen``, unless its record changed since
        (an operation, here or in another process, recorded its own outcome meanwhile) or a
        task runs on it. Returns whether it was written."""
        with self.transaction():
            current = self.get_instance(seen.uuid)
            if current.task is not None or current.updated_at != seen.updated_at:
                return False
            self._write(current.replace(state=state, updated_at=utcnow()))
            return True

    def take_task(self, uuid: str, task: Task | str) -> Instance:
        """Record ``task`` with this process as its owner whatever task was recorded before
        (for the caller that checked the previous owner is gone, e.g. a delete)."""
        with self.transaction():
            current = self.get_instance(uuid)
            written = self._write(current.replace(task=task, updated_at=utcnow()))
            self._execute(
                "UPDATE instances SET task_owner = ? WHERE uuid = ?", (this_process(), current.uuid)
            )
            return written

    def end_task(self, uuid: str, state: InstanceState | str) -> Instance:
        """Clear the running task and record the state the operation left the instance in."""
        return self.update_instance(uuid, task=None, state=state)

    def delete_instance(self, uuid: str, *, missing_ok: bool = False) -> None:
        """Forget an instance (by uuid) and its attachments."""
        with self.transaction():
            deleted = self._execute(
                "DELETE FROM instances WHERE uuid = ?", (uuid.lower(),)
            ).rowcount
            if deleted == 0 and not missing_ok:
                raise NotFound("instance", uuid)

    # --- attachments --------------------------------------------------------------------

    def add_attachment(self, uuid: str, device: BlockDeviceSpec | NICSpec) -> Instance:
        """Record a volume or NIC attached to the instance; returns the updated instance."""
        with self.transaction():
            current = self.get_instance(uuid)
            self._insert_attachment(current.uuid, device)
            self._write(current.replace(updated_at=utcnow()))
            return self.get_instance(current.uuid)

    def _insert_attachment(self, uuid: str, device: BlockDeviceSpec | NICSpec) -> None:
        kind, target, source = codec.attachment_row(device)
        try:
            self._execute(
                "INSERT INTO attachments (instance_uuid, kind, target, source) VALUES (?, ?, ?, ?)",
                (uuid, kind, target, source),
            )
        except sqlite3.IntegrityError as err:
            raise Conflict(f"{kind} {target} is already attached to instance {uuid}") from err

    def replace_volume(self, uuid: str, volume: BlockDeviceSpec) -> Instance:
        """Record ``volume`` in place of the volume attached under its target (an extend or a
        swap); the host connection recorded for the old one, if any, is kept with it (a swap's
        journal settles which one stays: :class:`SwapJournalRecords`)."""
        kind, target, source = codec.attachment_row(volume)
        with self.transaction():
            current = self.get_instance(uuid)
            updated = self._execute(
                "UPDATE attachments SET source = ? WHERE instance_uuid = ? AND kind = ?"
                " AND target = ?",
                (source, current.uuid, kind, target),
            ).rowcount
            if updated == 0:
                raise NotFound("volume", f"{target} of instance {current.name}")
            self._write(current.replace(updated_at=utcnow()))
            return self.get_instance(current.uuid)

    def set_volume_connection(self, uuid: str, target: str, connection: Mapping[str, Any]) -> None:
        """Remember how the volume attached as ``target`` was connected on this host."""
        with self.transaction():
            updated = self._execute(
                "UPDATE attachments SET connection = ? WHERE instance_uuid = ? AND kind = ?"
                " AND target = ?",
                (json.dumps(dict(connection)), uuid, codec.VOLUME, target),
            ).rowcount
            if updated == 0:
                raise NotFound("volume", f"{target} of instance {uuid}")

    def volume_connections(self, uuid: str) -> dict[str, dict[str, Any]]:
        """target -> recorded connection, for the instance's volumes that have one."""
        rows = self._rows(
            "SELECT target, connection FROM attachments WHERE instance_uuid = ? AND kind = ?"
            " AND connection IS NOT NULL",
            (uuid, codec.VOLUME),
        )
        return {str(row[0]): json.loads(row[1]) for row in rows}

    def remove_attachment(self, uuid: str, kind: str, target: str) -> Instance:
        """Forget the volume (by target, e.g. ``vdb``) or NIC (by MAC) of an instance."""
        if kind not in (codec.VOLUME, codec.NIC):
            raise InvalidInput(
                "kind", f"unknown attachment kind {kind!r}", [codec.VOLUME, codec.NIC]
            )
        with self.transaction():
            current = self.get_instance(uuid)
            deleted = self._execute(
                "DELETE FROM attachments WHERE instance_uuid = ? AND kind = ? AND target = ?",
                (current.uuid, kind, target.lower() if kind == codec.NIC else target),
            ).rowcount
            if deleted == 0:
                raise NotFound(kind, f"{target} of instance {current.name}")
            self._write(current.replace(updated_at=utcnow()))
            return self.get_instance(current.uuid)


_T = TypeVar("_T", Flavor, Image)


def _usable(record: _T | UnusableRecord) -> _T:
    if isinstance(record, UnusableRecord):
        raise record.error()
    return record


def _port_taken(port: int | None) -> Conflict:
    return Conflict(f"serial console port {port} is recorded for another instance already")


def _uuid_or_none(text: str) -> str | None:
    try:
        return validate_uuid(text)
    except InvalidInput:
        return None
