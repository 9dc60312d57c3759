"""What a resize keeps for its revert, in the guest's own folder, and how it is restored.

A resize powers the guest off and, before it changes anything, keeps the guest as it was::

    <instance>/resize-old.partial/   being written (a resize cut short here: removed)
    <instance>/resize-old/           complete: the old disks (root, ephemeral, swap: copies,
                                     sparse), the old definition (domain.xml, as libvirt had
                                     it; no secret is ever in it) and manifest.json (the old
                                     flavor, whether the guest ran, which disks it had)

The folder appears in one rename, so the kept state is either whole or absent. Confirming
drops it; reverting moves the kept disks back over the new ones (each in one rename), removes
the disks the old flavor had none of, records the old flavor, defines the old definition and
then drops what is left. Every step of a revert can be repeated: the kept definition is
removed only once it is defined again, so a revert cut short is finished by running it again
(recovery does). The files are root's only (0700 folder, 0600 files): QEMU never opens them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path

from zcompute._faults import fault_point
from zcompute.driver._context import ROOT_DISK, DriverContext
from zcompute.driver._guests import Guests
from zcompute.driver._state import ACTIVE
from zcompute.errors import HostFileError
from zcompute.images import FILE_PRIVATE, copy_sparse, fsync_dir
from zcompute.model import Flavor, Instance, InstanceState
from zcompute.plan import EPHEMERAL_DISK, SWAP_DISK
from zcompute.state import flavor_from_json, flavor_to_json

__all__ = [
    "KEEPING",
    "KEPT_DIR",
    "KeptState",
    "drop_kept",
    "keep_old_state",
    "kept_state",
    "restore_kept",
    "start_if_it_ran",
]

LOG = logging.getLogger("zcompute.driver")

#: What a resize adds to its operation's touched devices once it begins to keep the old
#: state: only then does its undo restore it (a resize refused earlier leaves a pending one).
KEEPING = ("resize", "kept")
KEPT_DIR = "resize-old"
PARTIAL_DIR = "resize-old.partial"
_MANIFEST = "manifest.json"
_DEFINITION = "domain.xml"
#: The guest's own disks that a resize may change (the config drive and volumes it never does).
DISK_FILES = (ROOT_DISK, EPHEMERAL_DISK, SWAP_DISK)


@dataclasses.dataclass(frozen=True)
class KeptState:
    """A complete kept state: the flavor before the resize, whether the guest ran, its disks."""

    flavor: Flavor
    was_running: bool
    disks: tuple[str, ...]


def kept_state(ctx: DriverContext, uuid: str) -> KeptState | None:
    """The state a resize kept for ``uuid`` (one to confirm or revert), or None."""
    manifest = ctx.instances_dir / uuid / KEPT_DIR / _MANIFEST
    try:
        data = json.loads(manifest.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise HostFileError(str(manifest), f"unreadable: {err}") from err
    return KeptState(
        flavor_from_json(data["flavor"]), bool(data["was_running"]), tuple(data["disks"])
    )


def keep_old_state(ctx: DriverContext, inst: Instance, was_running: bool) -> None:
    """Keep ``inst``'s disks, definition and flavor (the guest is off; see the module docs)."""
    folder = ctx.instances_dir / inst.uuid
    partial = folder / PARTIAL_DIR
    shutil.rmtree(partial, ignore_errors=True)  # what an attempt cut short left
    partial.mkdir(mode=0o700)
    disks = [name for name in DISK_FILES if (folder / name).is_file()]
    for name in disks:
        copy_sparse(folder / name, partial / name, FILE_PRIVATE)
    _private_text(partial / _DEFINITION, ctx.domains.xml(inst.uuid, inactive=True))
    manifest = {"flavor": flavor_to_json(inst.flavor), "was_running": was_running, "disks": disks}
    _private_text(partial / _MANIFEST, json.dumps(manifest))
    fsync_dir(partial)
    os.rename(partial, folder / KEPT_DIR)
    fsync_dir(folder)


def restore_kept(ctx: DriverContext, guests: Guests, uuid: str, start: bool | None) -> bool:
    """Make the guest what it was before its resize, then drop the kept state; False if there
    was none. ``start``: start it afterwards (None: if it ran before the resize)."""
    kept = kept_state(ctx, uuid)
    if kept is None:
        drop_kept(ctx, uuid)  # at most a partial one, which nothing uses
        return False
    folder = ctx.instances_dir / uuid
    old = folder / KEPT_DIR
    definition = old / _DEFINITION
    if definition.exists():  # not yet defined again: the disks may still be the new ones
        ctx.domains.destroy_if_exists(uuid)
        fault_point("resize_revert.stopped")
        for name in DISK_FILES:
            if (old / name).exists():
                os.replace(old / name, folder / name)
            elif name not in kept.disks:  # a disk the old flavor did not have
                (folder / name).unlink(missing_ok=True)
        fsync_dir(folder)
        fault_point("resize_revert.disks")
        ctx.db.set_flavor(uuid, kept.flavor)
        ctx.domains.define(definition.read_text())
        definition.unlink()
        fault_point("resize_revert.defined")
    if (kept.was_running if start is None else start) and ctx.observed_state(uuid) not in ACTIVE:
        guests.start_and_wait(uuid)
        fault_point("resize_revert.started")
    drop_kept(ctx, uuid)
    return True


def drop_kept(ctx: DriverContext, uuid: str) -> None:
    """Remove the kept state (whole or partial) of ``uuid``, if any."""
    folder = ctx.instances_dir / uuid
    for name in (KEPT_DIR, PARTIAL_DIR):
        if os.path.lexists(folder / name):
            shutil.rmtree(folder / name)


def start_if_it_ran(ctx: DriverContext, guests: Guests, inst: Instance) -> list[str]:
    """After a resize undone before it kept anything: start the guest if it was recorded
    running and is stopped now (the resize had begun to power it off)."""
    if inst.state is InstanceState.RUNNING and ctx.observed_state(inst.uuid) not in ACTIVE:
        guests.start_and_wait(inst.uuid)
        return ["started again, as it ran before"]
    return []


def _private_text(path: Path, text: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, FILE_PRIVATE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(fd)
