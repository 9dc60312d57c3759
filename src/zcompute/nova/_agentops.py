"""The guest agent: set-admin-password (``changePassword``), quiesce and unquiesce.

Each method calls zcompute's driver and raises what Nova's compute manager expects, as Nova's
libvirt driver does: a guest whose image has no ``hw_qemu_guest_agent`` gives
QemuGuestAgentNotEnabled (the API answers 409 and the server stays as it was); an agent that
does not answer gives NotImplementedError for a password (Nova's "not implemented by this
guest") and InstanceQuiesceFailed for a quiesce. zcompute's messages never hold the password.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from nova import exception

from zcompute.errors import GuestAgentUnavailable, NoGuestAgentChannel
from zcompute.nova._base import AdapterBase

__all__ = ["AgentMethods"]


@contextlib.contextmanager
def _agent_errors(unanswered: Callable[[str], BaseException]) -> Iterator[None]:
    """Raise zcompute's guest agent errors in the block as Nova's."""
    try:
        yield
    except NoGuestAgentChannel as err:
        raise exception.QemuGuestAgentNotEnabled() from err
    except GuestAgentUnavailable as err:
        raise unanswered(str(err)) from err


def _password_not_set(reason: str) -> BaseException:
    return NotImplementedError(f"the guest agent does not answer: {reason}")


def _quiesce_failed(reason: str) -> BaseException:
    failed: BaseException = exception.InstanceQuiesceFailed(reason=reason)
    return failed


class AgentMethods(AdapterBase):
    """Nova's guest agent operations on this service's guests."""

    def set_admin_password(self, instance: Any, new_pass: str) -> None:
        # the user: the image's os_admin_user, else root (zcompute's driver reads it)
        with self._guest(instance) as uuid, _agent_errors(_password_not_set):
            self.zc.set_admin_password(uuid, new_pass)

    def quiesce(self, context: Any, instance: Any, image_meta: Any) -> None:
        with self._guest(instance) as uuid, _agent_errors(_quiesce_failed):
            self.zc.quiesce(uuid)

    def unquiesce(self, context: Any, instance: Any, image_meta: Any) -> None:
        with self._guest(instance) as uuid, _agent_errors(_quiesce_failed):
            self.zc.unquiesce(uuid)
