"""Who may read what under the data directory, and file operations that never follow a link.

QEMU runs as the user and group libvirt's DAC security driver reports in the host capabilities
(``libvirt-qemu:libvirt-qemu`` on Debian); local users are nobody's business here::

    data dir, images/, instances/   0711 root            created by zcompute: QEMU traverses,
                                                         nobody else lists (an existing data
                                                         directory is left as it is)
    images/<id>/                    0750 root:QEMU group
    images/<id>/disk|kernel|initrd  0440 root:QEMU group read-only; libvirt never chowns a
                                                         base (``relabel='no'``), QEMU reads it
                                                         through the group
    instances/<uuid>/               0750 root:QEMU group
    instances/<uuid>/*              0600 root            the guest's own disk, kernel and initrd
                                                         copies, console log; libvirt gives
                                                         them to the QEMU user while the guest
                                                         runs and back to root when it stops

Nothing zcompute does under the data directory follows a symbolic link: files are created with
``O_EXCL``/``O_NOFOLLOW``, modes and owners are changed through a descriptor opened with
``O_NOFOLLOW``, a link where a directory should be is an error, and trees are removed with
:func:`shutil.rmtree`, which never follows a link inside the tree (a link given as the tree is
removed itself). Together with a data directory only root can write to (checked by
:func:`unsafe_directory`) no local user can redirect what root does there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import grp
import os
import pwd
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from zcompute.errors import HostFileError

__all__ = [
    "DIR_SHARED",
    "DIR_TRAVERSE",
    "FILE_PRIVATE",
    "FILE_SHARED",
    "QemuIds",
    "install_copy",
    "make_data_dir",
    "make_dir",
    "private_file",
    "qemu_ids",
    "remove_tree",
    "restrict",
    "tighten",
    "traverse_problem",
    "unsafe_directory",
]

DIR_TRAVERSE = 0o711  # the data directory and images/, instances/ below it
DIR_SHARED = 0o750  # one image's or one instance's directory: root and the QEMU group
FILE_SHARED = 0o440  # a base image, kernel or initrd in the store: read-only, QEMU's group reads
FILE_PRIVATE = 0o600  # an instance's disk, boot files and console log

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


@dataclasses.dataclass(frozen=True)
class QemuIds:
    """The user and groups QEMU processes run with (libvirt's DAC label)."""

    uid: int
    gid: int
    groups: tuple[int, ...]  # gid and the user's supplementary groups (libvirt sets them)

    def __str__(self) -> str:
        return f"uid {self.uid}, gid {self.gid}"


def qemu_ids(capabilities_xml: str | bytes) -> QemuIds | None:
    """QEMU's user and group from the DAC ``<secmodel>`` of libvirt's host capabilities.

    None when libvirt names no DAC label (its test driver, a session without DAC).
    """
    try:
        root = etree.fromstring(
            capabilities_xml.encode() if isinstance(capabilities_xml, str) else capabilities_xml,
            etree.XMLParser(resolve_entities=False, no_network=True),
        )
    except etree.XMLSyntaxError:
        return None
    for model in root.iterfind("host/secmodel"):
        if (model.findtext("model") or "").strip() != "dac":
            continue
        label = model.findtext("baselabel")
        if label is None:
            continue
        user, _, group = label.strip().partition(":")
        uid, gid = _id(user, pwd.getpwnam), _id(group, grp.getgrnam)
        if uid is None or gid is None:
            return None
        return QemuIds(uid, gid, _groups_of(uid, gid))
    return None


def _id(text: str, lookup: Callable[[str], Any]) -> int | None:
    """``+64055`` (libvirt's numeric form) or a user/group name."""
    if text.startswith("+") and text[1:].isdigit():
        return int(text[1:])
    try:
        entry = lookup(text)
    except KeyError:
        return None
    return int(entry[2])


def _groups_of(uid: int, gid: int) -> tuple[int, ...]:
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return (gid,)
    return tuple(dict.fromkeys([gid, *os.getgrouplist(name, gid)]))


# -- checks ----------------------------------------------------------------------------------


def unsafe_directory(path: Path) -> str | None:
    """Why a user other than root (or the process's own user) could plant files in ``path``.

    None when only root can write to it. ``path`` itself may be a link (an operator's choice);
    what it points to is checked.
    """
    st = os.stat(path)
    owners = {0, os.geteuid()}
    if st.st_uid not in owners:
        return f"it is owned by uid {st.st_uid}"
    if st.st_mode & stat.S_IWOTH:
        return f"every user can write to it (mode {stat.S_IMODE(st.st_mode):04o})"
    if st.st_mode & stat.S_IWGRP and st.st_gid != 0:
        return f"group {st.st_gid} can write to it (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def traverse_problem(path: Path, ids: QemuIds) -> str | None:
    """The first directory on the way to ``path`` (itself included) QEMU cannot enter."""
    here = Path(path).absolute()
    for directory in (*reversed(here.parents), here):
        try:
            st = os.stat(directory)
        except OSError as err:
            return f"{directory}: {err.strerror}"
        if st.st_uid == ids.uid:
            bit = stat.S_IXUSR
        elif st.st_gid in ids.groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            mode = stat.S_IMODE(st.st_mode)
            return f"{directory} (mode {mode:04o}, owner {st.st_uid}:{st.st_gid})"
    return None


# -- operations that never follow a link -----------------------------------------------------


def make_dir(path: Path, mode: int, gid: int | None = None, *, parents: bool = False) -> bool:
    """Create the directory ``path`` with exactly ``mode`` (owner root, group ``gid``).

    An existing directory is left as it is (its mode is never widened); a link or a file in
    its place is an error. Missing parents (``parents=True``) get ``mode`` too. Returns
    whether the directory was created.
    """
    path = Path(path)
    if parents and not os.path.lexists(path.parent):
        make_dir(path.parent, mode, gid, parents=True)
    try:
        os.mkdir(path, 0o700)  # never wider than asked while it is being set up
    except FileExistsError:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise HostFileError(str(path), f"expected a directory, found {_kind(st)}") from None
        return False
    except OSError as err:
        raise HostFileError(str(path), f"cannot create the directory: {err.strerror}") from err
    restrict(path, mode, gid)
    return True


def make_data_dir(path: Path) -> None:
    """Create the data directory (and missing parents) with mode 0711 unless it exists.

    An existing one keeps its mode and owner: it is the operator's. It may be a link to a
    directory (the operator's choice too); links below it are never followed.
    """
    if not Path(path).is_dir():
        make_dir(Path(path), DIR_TRAVERSE, parents=True)


def restrict(path: Path, mode: int, gid: int | None = None) -> None:
    """Give the file or directory ``path`` to root and group ``gid`` with exactly ``mode``.

    ``gid`` None means the process's own group. A link in ``path``'s place is refused, never
    followed, and so is anything but a regular file or a directory.
    """
    with _opened(path) as fd:
        _set(fd, path, mode, gid)


_LIBVIRT_LABELS = "trusted.libvirt.security."


def forget_stale_labels(path: Path) -> list[str]:
    """Remove libvirt's remembered-owner attributes from a file no running QEMU uses.

    libvirt records on each file it relabels who owned it and how many guests use it
    (``trusted.libvirt.security.*``), and refuses to relabel a file its records say is in use
    with other owners. A QEMU that died without libvirt (killed, a libvirtd restart that lost
    it, a crash) leaves those records behind on the files of a guest that is not running; a
    host boot makes libvirt ignore them, nothing else does. Returns the names removed.
    """
    removed = []
    with _opened(path) as fd:
        for name in os.listxattr(fd):
            if name.startswith(_LIBVIRT_LABELS):
                with contextlib.suppress(OSError):
                    os.removexattr(fd, name)
                    removed.append(name)
    return removed


def tighten(path: Path, mask: int) -> None:
    """Clear the permission bits ``mask`` of the directory ``path`` (never adds any)."""
    with _opened(path) as fd:
        current = stat.S_IMODE(os.fstat(fd).st_mode)
        if current & mask:
            os.fchmod(fd, current & ~mask)


def private_file(path: Path) -> None:
    """Make ``path`` an existing regular file only root reads (0600), e.g. a console log.

    libvirt opens a guest's log files as root: a link, FIFO or device in their place is
    removed first, so that guest output never lands in another file. Content is kept.
    """
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            raise HostFileError(str(path), "expected a file, found a directory")
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:  # a link, FIFO, device, hard link
            os.unlink(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | _NOFOLLOW
    try:
        fd = os.open(path, flags, FILE_PRIVATE)
    except OSError as err:
        raise HostFileError(str(path), f"cannot create the file: {err.strerror}") from err
    try:
        _set(fd, path, FILE_PRIVATE, None)
    finally:
        os.close(fd)


def install_copy(source: Path, dest: Path, mode: int = FILE_PRIVATE) -> None:
    """Make ``dest`` a private copy of ``source``: written beside it, then renamed over it.

    Whatever was at ``dest`` (an older copy, a link) is replaced, never written through.
    """
    dest = Path(dest)
    temporary = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.partial")
    try:
        _copy_in_kernel(Path(source), temporary)
        restrict(temporary, mode)
        os.replace(temporary, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _copy_in_kernel(source: Path, dest: Path) -> None:
    """Copy ``source`` into a new file ``dest`` without reading it through Python (a copy made
    again at every definition of a guest needs no digest and no fsync)."""
    src = os.open(source, os.O_RDONLY | _NOFOLLOW)
    try:
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, FILE_PRIVATE)
        try:
            size, offset = os.fstat(src).st_size, 0
            while offset < size:
                sent = os.sendfile(out, src, offset, size - offset)
                if sent == 0:
                    break
                offset += sent
        finally:
            os.close(out)
    finally:
        os.close(src)


def remove_tree(path: Path) -> None:
    """Remove ``path`` and what is below it without following any link (missing is fine).

    A link (or file) at ``path`` itself is unlinked; links inside the tree are removed, not
    followed (:func:`shutil.rmtree` walks with ``O_NOFOLLOW`` descriptors).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[int]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise HostFileError(
                str(path), "is a symbolic link: zcompute never follows links in its data directory"
            ) from None
        raise HostFileError(str(path), err.strerror or str(err), err.errno) from err
    try:
        yield fd
    finally:
        os.close(fd)


def _set(fd: int, path: Path, mode: int, gid: int | None) -> None:
    st = os.fstat(fd)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise HostFileError(str(path), f"expected a file or directory, found {_kind(st)}")
    group = os.getegid() if gid is None else gid
    if os.geteuid() == 0:
        if (st.st_uid, st.st_gid) != (0, group):
            os.fchown(fd, 0, group)
    elif st.st_gid != group:
        with contextlib.suppress(PermissionError):  # not root: only groups of our own
            os.fchown(fd, -1, group)
    if stat.S_IMODE(st.st_mode) != mode:
        os.fchmod(fd, mode)


def _kind(st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link"
    if stat.S_ISDIR(st.st_mode):
        return "a directory"
    if stat.S_ISREG(st.st_mode):
        return "a regular file"
    return "a special file"
