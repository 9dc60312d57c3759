"""The schema of the state database, as numbered migrations.

``PRAGMA user_version`` holds the number of migrations applied. The pending migrations run in
one transaction together with the version bump, so a failure leaves the database at the version
it had, never half-migrated. Migrations are append-only: a released one is never edited.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from zcompute.errors import ZcomputeError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "StateError", "migrate", "schema_version"]


class StateError(ZcomputeError):
    """The state database cannot be used (corrupt, unreadable, or from a newer zcompute)."""


Migration = tuple[str, ...]

_V1_TABLES: Migration = (
    """CREATE TABLE images (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        arch TEXT,
        disk_format TEXT CHECK (disk_format IN ('qcow2', 'raw')),
        path TEXT,
        kernel_path TEXT,
        initrd_path TEXT,
        cmdline TEXT,
        properties TEXT NOT NULL DEFAULT '{}',
        size INTEGER NOT NULL,
        virtual_size INTEGER NOT NULL DEFAULT 0,
        sha256 TEXT NOT NULL,
        initrd_sha256 TEXT,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE flavors (
        name TEXT PRIMARY KEY,
        vcpus INTEGER NOT NULL,
        memory_mib INTEGER NOT NULL,
        root_gib INTEGER NOT NULL,
        extra_specs TEXT NOT NULL DEFAULT '{}'
    )""",
    # An instance keeps a copy of its flavor (as Nova does): editing or deleting a flavor
    # must not resize guests that already run with it.
    """CREATE TABLE instances (
        uuid TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        task TEXT,
        arch TEXT NOT NULL,
        machine_type TEXT,
        domain_type TEXT,
        image_id TEXT NOT NULL REFERENCES images (id) ON DELETE RESTRICT,
        flavor_name TEXT NOT NULL,
        flavor TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX instances_by_image ON instances (image_id)",
    """CREATE TABLE attachments (
        id INTEGER PRIMARY KEY,
        instance_uuid TEXT NOT NULL REFERENCES instances (uuid) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('volume', 'nic')),
        target TEXT NOT NULL,
        source TEXT NOT NULL,
        UNIQUE (instance_uuid, kind, target)
    )""",
)

# Built-in flavors are seeded by a migration, i.e. once per database: an operator who deletes
# or redefines them is not overruled the next time zcompute starts. Sizes follow Nova's m1.*.
_V2_DEFAULT_FLAVORS: Migration = (
    """INSERT INTO flavors (name, vcpus, memory_mib, root_gib, extra_specs) VALUES
        ('tiny', 1, 512, 1, '{}'),
        ('small', 1, 2048, 20, '{}'),
        ('medium', 2, 4096, 40, '{}')""",
)

# A volume that a connector made local (a Fibre Channel LUN) keeps how it was connected, so
# that detaching it, or destroying its instance, can undo the host side (zfcp unit_remove).
_V3_ATTACHMENT_CONNECTIONS: Migration = ("ALTER TABLE attachments ADD COLUMN connection TEXT",)

# The process running an instance's task (zcompute.state._owner): a task whose owner died is
# recovered by the next command instead of blocking the instance for good.
_V4_TASK_OWNER: Migration = ("ALTER TABLE instances ADD COLUMN task_owner TEXT",)

# The disk target of an instance's config drive (NULL: none): every later plan attaches the
# drive under the name the guest first saw it.
_V5_CONFIG_DRIVE: Migration = ("ALTER TABLE instances ADD COLUMN config_drive TEXT",)

# The TCP port of an instance's interactive console (NULL: none; config serial_tcp): every
# later plan listens on the same port, and no two instances of a data directory share one.
_V6_SERIAL_PORT: Migration = (
    "ALTER TABLE instances ADD COLUMN serial_port INTEGER",
    "CREATE UNIQUE INDEX instances_by_serial_port ON instances (serial_port) "
    "WHERE serial_port IS NOT NULL",
)

# The sizes of a flavor's blank disks besides the root disk (Nova's ephemeral_gb and swap):
# flavors recorded before have none.
_V7_FLAVOR_EPHEMERAL_SWAP: Migration = (
    "ALTER TABLE flavors ADD COLUMN ephemeral_gib INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE flavors ADD COLUMN swap_mib INTEGER NOT NULL DEFAULT 0",
)

# A rescued instance (zcompute rescue): the image it boots from while rescued, kept from being
# deleted meanwhile, and whether a config drive was made for the rescue boot (NULL: not rescued).
_V8_RESCUE: Migration = (
    "ALTER TABLE instances ADD COLUMN rescue_image_id TEXT REFERENCES images (id) "
    "ON DELETE RESTRICT",
    "ALTER TABLE instances ADD COLUMN rescue_config_drive INTEGER",
)

# A swap of a volume that has (or gets) a host connection keeps both volumes' connections
# until it settles (zcompute.driver._swapconnect): none is forgotten, whatever interrupts it.
_V9_SWAP_JOURNAL: Migration = ("ALTER TABLE attachments ADD COLUMN swap_journal TEXT",)

MIGRATIONS: tuple[Migration, ...] = (
    _V1_TABLES,
    _V2_DEFAULT_FLAVORS,
    _V3_ATTACHMENT_CONNECTIONS,
    _V4_TASK_OWNER,
    _V5_CONFIG_DRIVE,
    _V6_SERIAL_PORT,
    _V7_FLAVOR_EPHEMERAL_SWAP,
    _V8_RESCUE,
    _V9_SWAP_JOURNAL,
)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The number of migrations applied to the database behind ``conn``."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database up to ``len(migrations)``; return the version it had before.

    ``conn`` must be in autocommit mode (``isolation_level=None``) so that the explicit
    transactions here are the only ones.
    """
    # BEGIN IMMEDIATE before reading the version: two processes opening a fresh database at
    # once must not both run migration 1.
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = schema_version(conn)
        if before > len(migrations):
            raise StateError(
                f"the state database has schema version {before}, newer than the "
                f"{len(migrations)} this zcompute knows; upgrade zcompute"
            )
        for number in range(before + 1, len(migrations) + 1):
            for statement in migrations[number - 1]:
                conn.execute(statement)
            # PRAGMA takes no parameters; number is an int we computed.
            conn.execute(f"PRAGMA user_version = {int(number)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return before
