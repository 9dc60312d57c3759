"""Quiescing a guest: its file systems frozen by its guest agent, and thawed again.

The QEMU guest agent's freeze flushes every file system of the guest to its disks and holds
every write until the thaw; a disk copied meanwhile holds clean file systems, not merely a
crash-consistent image. Only guests whose image (or flavor) sets ``hw_qemu_guest_agent`` have
the agent's channel.

* ``quiesce`` / ``unquiesce`` (the operator's, or Nova's around a volume snapshot) freeze and
  thaw on request: a guest frozen that way stays frozen until it is thawed or rebooted.
* A snapshot of a running guest freezes it for the one moment its copy is taken (the end of the
  block copy) when the image asks: ``os_require_quiesce=yes`` fails the snapshot if the freeze
  fails; with only the agent it tries and goes on crash-consistent if the agent does not answer.

A frozen guest is never left behind by a snapshot: the thaw runs on every error path, and a
marker file written before the freeze tells the recovery of a snapshot that was killed
(``kill -9``, power cut) to thaw the guest. A thaw of a guest that is not frozen does nothing,
so the marker may safely outlive the freeze.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from zcompute._faults import fault_point
from zcompute.driver._context import DriverContext
from zcompute.driver._operations import Operation
from zcompute.driver._state import ACTIVE
from zcompute.errors import (
    GuestAgentUnavailable,
    InvalidState,
    NoGuestAgentChannel,
    VirtError,
    ZcomputeError,
)
from zcompute.model import Instance, InstanceState
from zcompute.plan import guest_agent_wanted
from zcompute.properties import GUEST_AGENT_PROPERTY, REQUIRE_QUIESCE_PROPERTY, TRUE_WORDS
from zcompute.virt import GuestAgent

__all__ = ["SNAPSHOT_FREEZE_MARKER", "Quiescer", "require_agent_channel"]

LOG = logging.getLogger("zcompute.driver")

#: In the instance folder while a snapshot may have the guest frozen (see the module docs).
SNAPSHOT_FREEZE_MARKER = ".snapshot-frozen"


def _props(inst: Instance) -> dict[str, str]:
    return {**inst.image.properties, **inst.flavor.extra_specs}


def require_agent_channel(inst: Instance) -> None:
    """Raise GuestAgentUnavailable, naming the property, for a guest without the channel."""
    if not guest_agent_wanted(_props(inst)):
        raise NoGuestAgentChannel(
            f"instance {inst.name} has no guest agent channel "
            f"(its image does not set {GUEST_AGENT_PROPERTY}=yes)"
        )


def quiesce_required(inst: Instance) -> bool:
    return _props(inst).get(REQUIRE_QUIESCE_PROPERTY, "no").lower() in TRUE_WORDS


class Quiescer:
    """Freezes and thaws guests' file systems through their agents (see the module docs)."""

    def __init__(self, ctx: DriverContext) -> None:
        self._ctx = ctx
        self._agent = GuestAgent(ctx.domains)

    def freeze(self, inst: Instance) -> int:
        """Freeze ``inst``'s file systems (it runs and has the channel); how many."""
        try:
            return self._agent.freeze(inst.uuid)
        except VirtError as err:
            if "disabled" in str(err) or "frozen" in str(err):
                # the agent refuses every command but thaw and status while frozen
                raise InvalidState(
                    f"instance {inst.name}: its file systems are frozen already (unquiesce first)"
                ) from err
            raise
        except GuestAgentUnavailable as err:
            raise GuestAgentUnavailable(f"instance {inst.name}: {err}") from err

    def thaw(self, inst: Instance) -> int:
        """Thaw ``inst``'s file systems; how many were frozen (0: it was not frozen)."""
        try:
            return self._agent.thaw(inst.uuid)
        except GuestAgentUnavailable as err:
            raise GuestAgentUnavailable(f"instance {inst.name}: {err}") from err

    def _marker(self, inst: Instance) -> Path:
        return self._ctx.instances_dir / inst.uuid / SNAPSHOT_FREEZE_MARKER

    @contextlib.contextmanager
    def frozen_for_snapshot(self, op: Operation) -> Iterator[bool]:
        """Hold the guest frozen while the block runs, if its image asks (see the module
        docs); yields whether it is frozen. Thawed when the block ends, however it ends."""
        inst = op.instance
        required = quiesce_required(inst)
        if not guest_agent_wanted(_props(inst)) and not required:
            yield False
            return
        if not self._can_freeze(op, required):
            yield False
            return
        marker = self._marker(inst)
        marker.touch(mode=0o600)  # first: a kill during the freeze call still gets a thaw
        try:
            count = self.freeze(inst)
        except ZcomputeError as err:
            self._thaw_after_failed_freeze(inst, marker, err)
            if required:
                kind = GuestAgentUnavailable if isinstance(err, GuestAgentUnavailable) else None
                raise (kind or InvalidState)(
                    f"{err}; {REQUIRE_QUIESCE_PROPERTY}=yes: no snapshot without quiescing, "
                    "nothing changed"
                ) from err
            LOG.warning("instance %s: snapshot not quiesced (crash-consistent): %s", op.name, err)
            yield False
            return
        LOG.info("instance %s: %d file systems frozen for the snapshot", op.name, count)
        try:
            fault_point("snapshot.frozen")
            yield True
        finally:
            self._thaw_for_snapshot(inst, marker)

    def _can_freeze(self, op: Operation, required: bool) -> bool:
        if required:
            require_agent_channel(op.instance)
        if op.state is InstanceState.RUNNING:
            return True
        if required:  # a paused guest's agent cannot answer
            raise InvalidState(
                f"instance {op.name} is {op.state}: {REQUIRE_QUIESCE_PROPERTY}=yes needs a "
                "running guest to quiesce (unpause it first); nothing changed"
            )
        return False

    def _thaw_after_failed_freeze(self, inst: Instance, marker: Path, err: Exception) -> None:
        """A freeze the agent failed half-way may have frozen some file systems; an agent
        that did not answer libvirt's sync was never asked to freeze (nothing to thaw)."""
        if not isinstance(err, GuestAgentUnavailable):
            try:
                self.thaw(inst)
            except ZcomputeError:
                return  # the marker stays: the failed snapshot's undo, or repair, retries
        marker.unlink(missing_ok=True)

    def _thaw_for_snapshot(self, inst: Instance, marker: Path) -> None:
        """Thaw; if that fails the marker stays, and the next command's recovery retries."""
        try:
            self.thaw(inst)
        except ZcomputeError as err:
            LOG.error("instance %s: could not thaw after the snapshot: %s", inst.name, err)
            raise
        marker.unlink(missing_ok=True)
        fault_point("snapshot.thawed")

    def thaw_after_interrupted_snapshot(self, inst: Instance) -> list[str]:
        """Recovery of a snapshot task: thaw a guest the snapshot may have left frozen."""
        marker = self._marker(inst)
        if not marker.exists():
            return []
        if (
            not self._ctx.domains.exists(inst.uuid)
            or self._ctx.observed_state(inst.uuid) not in ACTIVE
        ):
            marker.unlink(missing_ok=True)  # a guest that stopped is not frozen any more
            return []
        try:
            count = self.thaw(inst)
        except ZcomputeError as err:  # the marker stays: repair tries again
            return [f"could not thaw the file systems yet (zcompute repair retries): {err}"]
        marker.unlink(missing_ok=True)
        if count:
            return [f"{count} file systems the snapshot had frozen thawed"]
        return []
