"""A guest's files before it starts: who may read them, and nothing that follows a link.

The modes are :mod:`zcompute.images._access`'s. Before libvirt defines a guest anew (spawn,
hard reboot, the KVM probe) :func:`prepare_guest_files` makes sure that

* the guest's folder exists, is root's and QEMU's group's (0750) and is no link;
* QEMU can enter every directory on the way to it (else a clear error, not libvirt's
  "Permission denied" from QEMU);
* the store images its disks are overlays of are read-only to QEMU's group (0440) and owned by
  root: libvirt is told not to relabel them, so no QEMU can make a shared base writable;
* the kernel and initrd are the guest's own fresh copies (libvirt has no way to leave a kernel
  unrelabelled: it gives it to the QEMU user while the guest runs);
* its disks in its folder and its console log are regular files only root reads (0600);
  libvirt opens the log as root, so a link there is removed, never written through.

Every other start (power on, soft reboot, resume) repeats the last two points and the folder's
mode (:func:`secure_instance_folder`): libvirt, as root, chowns a disk's path and opens the log's.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from zcompute.errors import HostFileError, from_os_error
from zcompute.images import (
    DIR_SHARED,
    FILE_PRIVATE,
    ImageStore,
    QemuIds,
    forget_stale_labels,
    install_copy,
    make_dir,
    private_file,
    restrict,
    traverse_problem,
)
from zcompute.plan import CONSOLE_LOG, INITRD_COPY, KERNEL_COPY, RESCUE_SUFFIX, GuestPlan

__all__ = ["prepare_guest_files", "secure_instance_folder", "warn_if_unreachable"]

LOG = logging.getLogger("zcompute.driver")


def prepare_guest_files(
    images: ImageStore, ids: QemuIds | None, directory: Path, plan: GuestPlan
) -> None:
    """Set up ``directory`` and the files of ``plan`` as the module docs say."""
    gid = None if ids is None else ids.gid
    try:
        make_dir(directory, DIR_SHARED, gid)
        own = [Path(d.source) for d in plan.disks if d.source_type == "file"]
        secure_instance_folder(ids, directory, [p for p in own if p.parent == directory])
        for disk in plan.disks:
            if disk.backing is not None:
                images.share_with_qemu(Path(disk.backing), gid)
        for source_file, copy in plan.boot_files:
            install_copy(Path(source_file), Path(copy))
    except OSError as err:
        raise from_os_error(err, "cannot prepare the guest's files") from err


def secure_instance_folder(ids: QemuIds | None, directory: Path, disks: list[Path]) -> None:
    """Before any start: the folder root's and QEMU's group's (also an older zcompute's 0755
    folder), reachable by QEMU, its ``disks`` and console log regular files only root reads.

    A link in place of any of them is an error or removed (the log): libvirt, as root, would
    chown a disk's link target to QEMU and write the console into the log's.
    """
    gid = None if ids is None else ids.gid
    restrict(directory, DIR_SHARED, gid)
    if ids is not None:
        problem = traverse_problem(directory, ids)
        if problem is not None:
            raise HostFileError(str(directory), _unreachable(ids, problem))
    for disk in disks:
        if os.path.lexists(disk):
            restrict(disk, FILE_PRIVATE)  # what a QEMU that owned it while running widened
    boot = [
        directory / (name + end)
        for name in (KERNEL_COPY, INITRD_COPY)
        for end in ("", RESCUE_SUFFIX)
    ]
    for own in [*disks, *boot]:
        if os.path.lexists(own):  # only this guest uses them, and it is not running
            forget_stale_labels(own)
    private_file(directory / CONSOLE_LOG)


def warn_if_unreachable(ids: QemuIds, *directories: Path) -> None:
    """Log where QEMU cannot enter a directory it needs (the data directory's path)."""
    for directory in directories:
        problem = traverse_problem(directory, ids)
        if problem is not None:
            LOG.warning("%s", _unreachable(ids, problem))


def _unreachable(ids: QemuIds, problem: str) -> str:
    return (
        f"QEMU ({ids}) cannot enter {problem}: guests cannot reach their disks; let it pass "
        "(chmod o+x, or group QEMU's group with g+x) or choose another data directory"
    )
