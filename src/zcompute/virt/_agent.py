"""The QEMU guest agent inside a guest: its hostname, file systems and SSH keys; freezing and
thawing its file systems; setting a user's password.

The agent answers over the virtio channel the plan gives guests whose image asks for it
(``hw_qemu_guest_agent``); a guest without the channel, or whose agent is not (yet) running,
gives :class:`~zcompute.errors.GuestAgentUnavailable`.
"""

from __future__ import annotations

import dataclasses

import libvirt

from zcompute.virt._domains import Domains
from zcompute.virt._errors import libvirt_errors

__all__ = ["GuestAgent", "GuestFilesystem"]


@dataclasses.dataclass(frozen=True)
class GuestFilesystem:
    """One mounted file system as the guest sees it."""

    mountpoint: str
    name: str
    fstype: str
    total_bytes: int | None
    used_bytes: int | None


class GuestAgent:
    """Questions to the guest agent of one :class:`Domains`' guests (by UUID)."""

    def __init__(self, domains: Domains) -> None:
        self.domains = domains

    def hostname(self, uuid: str) -> str:
        with libvirt_errors(uuid):
            return str(self.domains.lookup(uuid).hostname(libvirt.VIR_DOMAIN_GET_HOSTNAME_AGENT))

    def filesystems(self, uuid: str) -> list[GuestFilesystem]:
        with libvirt_errors(uuid):
            info = self.domains.lookup(uuid).guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_FILESYSTEM)
        found = []
        for index in range(int(info.get("fs.count", 0))):
            prefix = f"fs.{index}."
            total, used = info.get(prefix + "total-bytes"), info.get(prefix + "used-bytes")
            found.append(
                GuestFilesystem(
                    str(info.get(prefix + "mountpoint", "")),
                    str(info.get(prefix + "name", "")),
                    str(info.get(prefix + "fstype", "")),
                    None if total is None else int(total),
                    None if used is None else int(used),
                )
            )
        return found

    def authorized_keys(self, uuid: str, user: str) -> list[str]:
        with libvirt_errors(uuid):
            return list(self.domains.lookup(uuid).authorizedSSHKeysGet(user, 0))

    def freeze(self, uuid: str) -> int:
        """Freeze every file system of the guest (the agent syncs them first); how many."""
        with libvirt_errors(uuid):
            return int(self.domains.lookup(uuid).fsFreeze(None, 0))

    def thaw(self, uuid: str) -> int:
        """Thaw the guest's file systems; how many were frozen (0: none, nothing happens)."""
        with libvirt_errors(uuid):
            return int(self.domains.lookup(uuid).fsThaw(None, 0))

    def set_user_password(self, uuid: str, user: str, password: str) -> None:
        """Set ``user``'s password inside the guest (the agent runs chpasswd).

        libvirt passes the password to the agent over the guest's channel (base64 in a JSON
        message): it is never in a file or a command line, and its errors do not repeat it.
        """
        with libvirt_errors(uuid):
            self.domains.lookup(uuid).setUserPassword(user, password, 0)
