"""A flavor's ephemeral and swap disks: blank raw files that zcompute makes once, at spawn.

They are sparse files in the instance folder, formatted as Nova formats them: the ephemeral
disk ext4 labelled ``ephemeral0`` (cloud-init's mounts module mounts it), the swap disk with a
swap signature labelled ``swap0``. zcompute made them, so the plan records them as raw and
nothing ever probes their format. They are created 0600 and root's, like the root disk
(:mod:`._files` keeps them so); the instance folder's removal removes them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from zcompute.errors import HostFileError, from_os_error
from zcompute.images import FILE_PRIVATE
from zcompute.model import Flavor
from zcompute.plan import EPHEMERAL_LABEL, SWAP_LABEL, ScratchDisk, scratch_disks

__all__ = ["create_scratch_disk", "create_scratch_disks"]

# mkfs and mkswap live in sbin, which a service's PATH may lack
_SBIN = "/usr/sbin:/sbin"
_TIMEOUT = 600.0  # seconds; mkfs writes only metadata, but a loaded host may be slow


def create_scratch_disks(directory: Path, flavor: Flavor) -> list[Path]:
    """Create and format ``flavor``'s ephemeral and swap disks in ``directory``."""
    return [create_scratch_disk(directory, disk) for disk in scratch_disks(flavor)]


def create_scratch_disk(directory: Path, disk: ScratchDisk) -> Path:
    """Create and format one of them (a resize adds one the old flavor did not have)."""
    path = directory / disk.file
    _sparse_file(path, disk.size)
    if disk.kind == "ephemeral":
        _run(["mkfs.ext4", "-q", "-F", "-L", EPHEMERAL_LABEL, str(path)], path)
    else:
        _run(["mkswap", "-L", SWAP_LABEL, str(path)], path)
    return path


def _sparse_file(path: Path, size: int) -> None:
    """A new file of ``size`` bytes that takes no space yet; never one that was there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, FILE_PRIVATE)
        try:
            os.fchmod(fd, FILE_PRIVATE)  # whatever the umask
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
    except OSError as err:
        raise from_os_error(err, f"cannot create {path}") from err


def _run(argv: Sequence[str], path: Path) -> None:
    """Run a formatting tool with arguments only (no shell); its failure in one line."""
    tool = argv[0]
    exe = shutil.which(tool, path=f"{os.environ.get('PATH', '')}:{_SBIN}")
    if exe is None:
        raise HostFileError(str(path), f"{tool} is not installed; run scripts/setup-host")
    try:
        done = subprocess.run(
            [exe, *argv[1:]], capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise HostFileError(str(path), f"{tool} did not finish within {_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit status {done.returncode}"
        raise HostFileError(str(path), f"{tool} failed: {detail}")
