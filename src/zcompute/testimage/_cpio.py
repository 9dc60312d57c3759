"""A minimal writer for the ``newc`` cpio format the Linux kernel unpacks as an initramfs.

Written here rather than shelling out to cpio so that archives are byte-for-byte reproducible
(fixed mtimes, owners and inode numbers), which the content-addressed image cache relies on.
"""

from __future__ import annotations

import io
import stat
from dataclasses import dataclass

_TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class Entry:
    """One archive member: a directory, a regular file or a symlink."""

    path: str
    mode: int
    data: bytes = b""


def _header(ino: int, mode: int, size: int, name: bytes) -> bytes:
    fields = (ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name) + 1, 0)
    return b"070701" + b"".join(f"{value:08x}".encode() for value in fields)


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def write_newc(entries: list[Entry]) -> bytes:
    """Serialise ``entries`` (in order) followed by the trailer record."""
    out = io.BytesIO()
    for ino, entry in enumerate([*entries, Entry(_TRAILER, 0)], start=1):
        name = entry.path.lstrip("/").encode()
        head = _header(ino if entry.path != _TRAILER else 0, entry.mode, len(entry.data), name)
        out.write(head + name + b"\0")
        out.write(_pad(len(head) + len(name) + 1))
        out.write(entry.data + _pad(len(entry.data)))
    return out.getvalue()


def directory(path: str) -> Entry:
    return Entry(path, stat.S_IFDIR | 0o755)


def regular(path: str, data: bytes, executable: bool = False) -> Entry:
    return Entry(path, stat.S_IFREG | (0o755 if executable else 0o644), data)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, stat.S_IFLNK | 0o777, target.encode())
