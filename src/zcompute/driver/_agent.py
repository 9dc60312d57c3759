"""The guest's QEMU guest agent: what the guest made of itself (hostname, disks, keys),
freezing and thawing its file systems (:mod:`._quiesce`), and setting a user's password.

Only guests whose image (or flavor) asks for the agent (``hw_qemu_guest_agent``) have its
channel; for others, or while the agent is not up yet, the answer is
:class:`~zcompute.errors.GuestAgentUnavailable`, never a guess.

A password is handed to libvirt, which passes it to the agent over the guest's channel: it is
never logged, written to a file or put on a command line, and no error message repeats it.
"""

from __future__ import annotations

import dataclasses

from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._operations import Operations
from zcompute.driver._quiesce import Quiescer, require_agent_channel
from zcompute.errors import InvalidInput, InvalidState
from zcompute.model import Instance, InstanceState, validate_name
from zcompute.properties import ADMIN_USER_PROPERTY
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

    def __init__(self, ctx: DriverContext, ops: Operations) -> None:
        self._ctx = ctx
        self._ops = ops
        self._agent = GuestAgent(ctx.domains)
        self._quiescer = Quiescer(ctx)

    def guest_agent_info(self, name_or_uuid: str, user: str | None = None) -> GuestAgentInfo:
        """Hostname, mounted file systems and (for ``user``) authorized SSH keys of a guest."""
        if user is not None:
            _check_user(user)
        inst = self._ctx.db.get_instance(name_or_uuid)
        require_agent_channel(inst)
        if self._ctx.observed_state(inst.uuid) is not InstanceState.RUNNING:
            raise InvalidState(f"instance {inst.name} is not running")
        keys = () if user is None else tuple(self._agent.authorized_keys(inst.uuid, user))
        return GuestAgentInfo(
            self._agent.hostname(inst.uuid), tuple(self._agent.filesystems(inst.uuid)), keys
        )

    def quiesce(self, name_or_uuid: str) -> int:
        """Freeze the file systems of a running guest until :meth:`unquiesce`; how many."""
        with self._ops.run(name_or_uuid, None, _RUNNING, "quiesce") as op:
            require_agent_channel(op.instance)
            return self._quiescer.freeze(op.instance)

    def unquiesce(self, name_or_uuid: str) -> int:
        """Thaw a guest's file systems; how many were frozen (0: none, nothing changed)."""
        with self._ops.run(name_or_uuid, None, _RUNNING, "unquiesce") as op:
            require_agent_channel(op.instance)
            return self._quiescer.thaw(op.instance)

    def set_admin_password(self, name_or_uuid: str, password: str, user: str | None = None) -> str:
        """Set the password of ``user`` (default: the image's ``os_admin_user``, else root)
        inside a running guest; returns the user."""
        _check_password(password)
        if user is not None:
            _check_user(user)
        with self._ops.run(name_or_uuid, None, _RUNNING, "set a password in") as op:
            require_agent_channel(op.instance)
            login = user or admin_user(op.instance)
            self._agent.set_user_password(op.uuid, login, password)
            return login


_RUNNING = (InstanceState.RUNNING,)
_PASSWORD_RULE = "1-1024 characters without line breaks or NUL"


def admin_user(inst: Instance) -> str:
    """The user a set-admin-password sets, as Nova's libvirt driver picks it."""
    return {**inst.image.properties, **inst.flavor.extra_specs}.get(ADMIN_USER_PROPERTY, "root")


def _check_user(user: str) -> None:
    try:
        validate_name(user, "user", allow_uuid=False)
    except InvalidInput:
        raise InvalidInput("user", f"invalid user name {user!r}", "a login name") from None


def _check_password(password: object) -> None:
    """Refuse a password chpasswd cannot take, without ever repeating it."""
    if not isinstance(password, str):
        raise InvalidInput("password", "expected a string", _PASSWORD_RULE)
    if not 1 <= len(password) <= 1024:
        raise InvalidInput("password", f"{len(password)} characters", _PASSWORD_RULE)
    if any(c in password for c in "\r\n\0"):
        raise InvalidInput("password", "contains a line break or NUL", _PASSWORD_RULE)
