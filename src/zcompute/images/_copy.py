"""Streaming file copy that hashes while it copies, in bounded memory, keeping holes."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from zcompute.errors import ImageError

__all__ = [
    "CHUNK_SIZE",
    "Copied",
    "Progress",
    "copy_sparse",
    "copy_with_digest",
    "file_kind",
    "fsync_dir",
    "open_regular",
]

#: Bytes read per step: large enough for full disk speed, small enough to stay bounded.
CHUNK_SIZE = 1 << 20

#: ``progress(done, total)`` in bytes; an exception raised by it aborts the copy.
Progress = Callable[[int, int], object]


@dataclasses.dataclass(frozen=True)
class Copied:
    size: int
    sha256: str


def open_regular(path: Path) -> int:
    """Open ``path`` for reading and make sure it is a regular file (not a device or FIFO).

    Opened non-blocking: opening a FIFO for reading would otherwise wait, forever, for a writer
    (and a terminal must not become our controlling one); a regular file then reads as usual.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as err:
        raise ImageError(f"cannot read {path}: {err.strerror}") from err
    except ValueError as err:  # a NUL in the path: no file has that name
        raise ImageError(f"cannot read {str(path)!r}: the path contains a NUL character") from err
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ImageError(f"{path} is {file_kind(mode)}, not a regular file")
    os.set_blocking(fd, True)
    return fd


def file_kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, for a message: "a FIFO", "a directory", ..."""
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    kinds[stat.S_ISREG] = "a regular file"
    return next((name for test, name in kinds.items() if test(mode)), "a special file")


def copy_with_digest(
    source: Path,
    dest: Path,
    progress: Progress | None = None,
    *,
    offset: int = 0,
    total: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Copied:
    """Copy ``source`` to the new file ``dest`` (mode 0600), returning its size and sha256.

    Zero-filled chunks are skipped with a seek, so sparse raw images stay sparse. Progress is
    reported as ``offset + copied`` of ``total`` (default: the source size), which lets a
    caller copying several files report one running total.
    """
    src_fd = open_regular(source)
    with open(src_fd, "rb", buffering=0) as fin:
        size = os.fstat(src_fd).st_size
        grand_total = size if total is None else total
        try:
            out_fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise ImageError(f"cannot create {dest}: {err.strerror}") from err
        with open(out_fd, "wb", buffering=0) as fout:
            digest, done = _pump(fin.readinto, out_fd, chunk_size, offset, grand_total, progress)
            fout.truncate(done)  # the file ends with a hole if the source ended with zeros
            os.fsync(out_fd)
    return Copied(size=done, sha256=digest)


def _pump(
    readinto: Callable[[bytearray], int | None],
    out_fd: int,
    chunk_size: int,
    offset: int,
    total: int,
    progress: Progress | None,
) -> tuple[str, int]:
    buffer = bytearray(chunk_size)
    zeros = bytes(chunk_size)
    digest = hashlib.sha256()
    done = 0
    while n := readinto(buffer) or 0:
        full = n == chunk_size
        chunk = buffer if full else buffer[:n]
        digest.update(chunk)
        # bytearray == bytes is a memcmp: far cheaper than the write it can save.
        if chunk == (zeros if full else zeros[:n]):
            os.lseek(out_fd, n, os.SEEK_CUR)
        else:
            _write_all(out_fd, chunk)
        done += n
        if progress is not None:
            progress(offset + done, total)
    return digest.hexdigest(), done


def _write_all(fd: int, data: bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_sparse(source: Path, dest: Path, mode: int) -> None:
    """Copy ``source`` into a new file ``dest`` (``mode``, never an existing file or a link),
    data extents only: a sparse disk stays sparse, and only its data is read and written."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    src = open_regular(source)
    try:
        out = os.open(dest, flags, mode)
        try:
            os.fchmod(out, mode)  # whatever the umask
            size = os.fstat(src).st_size
            _copy_extents(src, out, size)
            os.ftruncate(out, size)  # a trailing hole
            os.fsync(out)
        finally:
            os.close(out)
    finally:
        os.close(src)


def _copy_extents(src: int, out: int, size: int) -> None:
    offset = 0
    while offset < size:
        try:
            start = os.lseek(src, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole is left
            return
        end = os.lseek(src, start, os.SEEK_HOLE)
        while start < end:
            copied = _copy_range(src, out, min(end - start, CHUNK_SIZE * 64), start)
            if copied == 0:
                raise ImageError(f"the copy ended early at byte {start} of {size}")
            start += copied
        offset = end


def _copy_range(src: int, out: int, count: int, offset: int) -> int:
    """Copy ``count`` bytes at ``offset`` in the kernel; read and write where it cannot."""
    try:
        return os.copy_file_range(src, out, count, offset, offset)
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
    data = os.pread(src, min(count, CHUNK_SIZE), offset)
    return os.pwrite(out, data, offset) if data else 0
