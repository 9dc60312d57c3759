"""zcompute's persistent state: a SQLite database (WAL mode) in the data directory.

Holds instances, images, flavors and attachments, returns :mod:`zcompute.model` objects, and
records the task running on each instance so that an operation interrupted by a crash is
visible on the next start (:meth:`StateDB.instances_with_task`)::

    db = StateDB(data_dir / "state.sqlite3")
    with db.transaction():          # several writes, one atomic unit
        db.add_instance(instance)
        db.begin_task(instance.uuid, Task.SPAWNING)
    ...
    db.end_task(instance.uuid, InstanceState.RUNNING)
"""

from __future__ import annotations

from zcompute.state._codec import (
    decode_image,
    decode_instance,
    encode_image,
    encode_instance,
    flavor_from_json,
    flavor_to_json,
)
from zcompute.state._db import UPDATABLE_FIELDS, InstanceSummary, StateDB
from zcompute.state._owner import owner_alive, this_process
from zcompute.state._reserve import RESERVE_BYTES, SpaceReserve
from zcompute.state._schema import MIGRATIONS, SCHEMA_VERSION, StateError

__all__ = [
    "MIGRATIONS",
    "RESERVE_BYTES",
    "SCHEMA_VERSION",
    "UPDATABLE_FIELDS",
    "InstanceSummary",
    "SpaceReserve",
    "StateDB",
    "StateError",
    "decode_image",
    "decode_instance",
    "encode_image",
    "encode_instance",
    "flavor_from_json",
    "flavor_to_json",
    "owner_alive",
    "this_process",
]
