"""Asking a guest's QEMU guest agent what the guest made of itself: hostname, disks, keys.

Only guests whose image (or flavor) asks for the agent (``hw_qemu_guest_agent``) have its
channel; for others, or while the agent is not up yet, the answer is
:class:`~zcompute.errors.GuestAgentUnavailable`, never a guess.
"""

from __future__ import annotations

import dataclasses

from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.errors import GuestAgentUnavailable, InvalidInput, InvalidState
from zcompute.model import InstanceState, validate_name
from zcompute.plan import guest_agent_wanted
from zcompute.virt import GuestAgent, GuestFilesystem

__all__ = ["GuestAgentInfo", "GuestAgentOps"]


@dataclasses.dataclass(frozen=True)
class GuestAgentInfo:
    """What the agent reports; ``authorized_keys`` are those of the user asked about."""

    hostname: str
    filesystems: tuple[GuestFilesystem, ...]
    authorized_keys: tuple[str, ...]


@map_os_errors
class GuestAgentOps:
    """The guest agent queries of :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(self, ctx: DriverContext) -> None:
        self._ctx = ctx
        self._agent = GuestAgent(ctx.domains)

    def guest_agent_info(self, name_or_uuid: str, user: str | None = None) -> GuestAgentInfo:
        """Hostname, mounted file systems and (for ``user``) authorized SSH keys of a guest."""
        if user is not None:
            try:
                validate_name(user, "user", allow_uuid=False)
            except InvalidInput:
                raise InvalidInput("user", f"invalid user name {user!r}", "a login name") from None
        inst = self._ctx.db.get_instance(name_or_uuid)
        props = {**inst.image.properties, **inst.flavor.extra_specs}
        if not guest_agent_wanted(props):
            raise GuestAgentUnavailable(
                f"instance {inst.name} has no guest agent channel "
                "(its image does not set hw_qemu_guest_agent=yes)"
            )
        if self._ctx.observed_state(inst.uuid) is not InstanceState.RUNNING:
            raise InvalidState(f"instance {inst.name} is not running")
        keys = () if user is None else tuple(self._agent.authorized_keys(inst.uuid, user))
        return GuestAgentInfo(
            self._agent.hostname(inst.uuid), tuple(self._agent.filesystems(inst.uuid)), keys
        )
