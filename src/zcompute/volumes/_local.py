"""Which host files and block devices may become a guest's disk: the local volume policy.

A path handed to ``volume attach --file`` or ``boot --volume`` (and, under Nova, one a tenant
can influence) becomes a disk that a guest reads and writes. The policy refuses what would let
a guest reach a host file it was not given:

* symbolic links are resolved once; the real path is what is checked, attached and recorded
  (a link swapped later cannot redirect the disk);
* files only inside the operator's configured volume directories (``volume_dirs``), never inside
  zcompute's data directory (its state database, images, other guests' disks and logs) nor a
  host system directory, and never a file with several hard links (a link to a host file made
  where a volume may live);
* block devices only when no file system on them (or on a partition of them) is mounted, none
  is used as swap, and no other device (device-mapper, RAID, LVM) holds them;
* nothing else: directories, character devices (``/dev/null``), FIFOs and sockets are refused
  before QEMU sees them.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from zcompute.errors import InvalidInput

__all__ = ["SYSTEM_DIRS", "LocalVolume", "VolumePolicy", "parse_volume_dirs"]

#: Host directories whose files never become a guest's disk, whatever ``volume_dirs`` says.
SYSTEM_DIRS = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root",
    "/run", "/sbin", "/sys", "/usr", "/var/lib/libvirt", "/var/log", "/var/run",
)  # fmt: skip

FIELD = "volume"


@dataclasses.dataclass(frozen=True)
class LocalVolume:
    """A path that passed the policy: its real path and whether it is a block device."""

    path: Path
    is_block: bool


@dataclasses.dataclass(frozen=True)
class VolumePolicy:
    """Where file volumes may live (``volume_dirs``) and what is never allowed."""

    volume_dirs: tuple[Path, ...]
    data_dir: Path
    proc: Path = Path("/proc")
    sys: Path = Path("/sys")

    def describe(self) -> str:
        """One line for ``host show``."""
        dirs = ", ".join(str(d) for d in self.volume_dirs) or "none (file volumes refused)"
        return (
            f"files in {dirs}; never in {self.data_dir} or a system directory; block devices "
            "that are not mounted, not swap and not held by another device"
        )

    def check(self, given: Path | str) -> LocalVolume:
        """The checked volume at ``given``, or InvalidInput naming what is wrong."""
        path = Path(given)
        if not path.is_absolute():
            raise InvalidInput(FIELD, f"{given} is not an absolute path", "an absolute path")
        try:
            real = path.resolve(strict=True)
            info = real.stat()
        except FileNotFoundError:
            raise InvalidInput(FIELD, f"{given} does not exist", "an existing file") from None
        except (OSError, RuntimeError) as err:
            raise InvalidInput(FIELD, f"{given}: {err}", "a readable file") from None
        if stat.S_ISREG(info.st_mode):
            self._check_file(given, real, info)
            return LocalVolume(real, is_block=False)
        if stat.S_ISBLK(info.st_mode):
            self._check_block_device(given, info.st_rdev)
            return LocalVolume(real, is_block=True)
        kind = _kind(info.st_mode)
        raise InvalidInput(FIELD, f"{given} is a {kind}", "a regular file or a block device")

    def _check_file(self, given: Path | str, real: Path, info: os.stat_result) -> None:
        where = f"{given}" if str(given) == str(real) else f"{given} (really {real})"
        if _inside(real, [self.data_dir]):
            raise InvalidInput(
                FIELD, f"{where} is inside zcompute's data directory {self.data_dir}",
                self._allowed(),
            )  # fmt: skip
        if _inside(real, [Path(d) for d in SYSTEM_DIRS]):
            raise InvalidInput(FIELD, f"{where} is in a host system directory", self._allowed())
        if not _inside(real, self.volume_dirs):
            raise InvalidInput(FIELD, f"{where} is outside the volume directories", self._allowed())
        if info.st_nlink > 1:
            raise InvalidInput(
                FIELD,
                f"{where} has {info.st_nlink} hard links (one could be a host file's)",
                "a file with a single link",
            )

    def _allowed(self) -> str:
        dirs = ", ".join(str(d) for d in self.volume_dirs)
        return f"a file in {dirs} (setting volume_dirs)" if dirs else "none: volume_dirs is empty"

    def _check_block_device(self, given: Path | str, rdev: int) -> None:
        devices = _with_partitions(self.sys, rdev)
        numbers = {_number(d) for d in devices}
        mounted = _mounted_devices(self.proc)
        if numbers & mounted:
            raise InvalidInput(
                FIELD, f"{given} (or a partition of it) is mounted on the host",
                "an unmounted block device",
            )  # fmt: skip
        if numbers & _swap_devices(self.proc):
            raise InvalidInput(FIELD, f"{given} is used as swap", "a block device not used as swap")
        for device in devices:
            holders = self.sys / "dev" / "block" / _number(device) / "holders"
            held = sorted(h.name for h in _entries(holders))
            if held:
                raise InvalidInput(
                    FIELD, f"{given} is held by {', '.join(held)}",
                    "a block device no other device uses",
                )  # fmt: skip


def _inside(path: Path, dirs: Iterable[Path]) -> bool:
    for directory in dirs:
        try:
            base = directory.resolve()
        except (OSError, RuntimeError):
            continue
        if path == base or path.is_relative_to(base):
            return True
    return False


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


def _number(rdev: int) -> str:
    return f"{os.major(rdev)}:{os.minor(rdev)}"


def _entries(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except OSError:
        return []


def _with_partitions(sys_root: Path, rdev: int) -> list[int]:
    """The device and its partitions (sysfs lists them below the whole disk)."""
    node = sys_root / "dev" / "block" / _number(rdev)
    found = [rdev]
    for child in _entries(node):
        dev = child / "dev"
        if (child / "partition").exists() and dev.exists():
            major, minor = dev.read_text().strip().split(":")
            found.append(os.makedev(int(major), int(minor)))
    return found


def _mounted_devices(proc: Path) -> set[str]:
    """``major:minor`` of every mounted block device (field 3 of mountinfo)."""
    try:
        lines = (proc / "self" / "mountinfo").read_text().splitlines()
    except OSError:
        return set()
    return {line.split()[2] for line in lines if len(line.split()) > 2}


def _swap_devices(proc: Path) -> set[str]:
    try:
        lines = (proc / "swaps").read_text().splitlines()[1:]
    except OSError:
        return set()
    out = set()
    for line in lines:
        name = line.split()[0] if line.split() else ""
        try:
            info = os.stat(name)
        except OSError:
            continue
        if stat.S_ISBLK(info.st_mode):
            out.add(_number(info.st_rdev))
    return out


def parse_volume_dirs(text: str) -> tuple[Path, ...]:
    """``volume_dirs`` as paths: a comma- or colon-separated list of absolute directories."""
    parts = [p.strip() for p in text.replace(":", ",").split(",") if p.strip()]
    for part in parts:
        if not os.path.isabs(part):
            raise InvalidInput("volume_dirs", f"{part!r} is not an absolute path", "/srv,/data")
    return tuple(Path(p) for p in parts)
