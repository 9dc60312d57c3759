"""Room to recover when the data directory's file system is full.

A full file system would lock the operator out: SQLite cannot create the shared-memory and
write-ahead files it needs even to *read* in WAL mode, so ``list`` fails, and the commands that
free space (``delete``, ``image delete``) cannot record what they did. zcompute therefore keeps
a reserve file of :data:`RESERVE_BYTES` in the data directory while there is room for it, and
gives it back when the file system is full, before it opens the state database: reads and the
commands that free space then work. The reserve is made again once there is room.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

from zcompute.errors import NoSpace

__all__ = ["RESERVE_BYTES", "RESERVE_NAME", "SpaceReserve"]

LOG = logging.getLogger("zcompute.state")
RESERVE_NAME = ".space-reserve"
RESERVE_BYTES = 16 << 20


class SpaceReserve:
    """The reserve file of one data directory."""

    def __init__(self, directory: Path, size: int = RESERVE_BYTES) -> None:
        self.path = Path(directory) / RESERVE_NAME
        self.size = size

    def free(self) -> int:
        return shutil.disk_usage(self.path.parent).free

    def release_if_full(self) -> bool:
        """Give the reserve back when less than its size is free; True if it did."""
        if not self.path.exists() or self.free() >= self.size:
            return False
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        LOG.warning(
            "the file system of %s is full: released zcompute's %d MiB reserve so that reads "
            "and deletes work; free space (delete guests or images) before anything else",
            self.path.parent,
            self.size >> 20,
        )
        return True

    def require_room(self, what: str) -> None:
        """Refuse ``what`` (an import, a boot: something that adds data) while the file system
        is full, i.e. while the reserve is released for want of room: that room is for reads
        and deletes."""
        if self.path.exists():
            return
        free = self.free()
        if free < 2 * self.size:
            raise NoSpace(
                f"the file system of {self.path.parent} is full ({free >> 20} MiB free): "
                f"free space (delete guests or images) before {what}"
            )

    def ensure(self) -> None:
        """Make the reserve if it is missing and the file system has room to spare for it."""
        if self.path.exists():
            return
        try:
            if self.free() < 2 * self.size:
                return
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError:
            return  # a reserve is a precaution: never a reason for a command to fail
        try:
            os.posix_fallocate(fd, 0, self.size)
        except OSError:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            return
        os.close(fd)
