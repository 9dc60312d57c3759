"""The host's sysfs and /dev seen through an injectable root directory.

Production uses root ``/``; tests build a real directory tree (files, directories,
symlinks shaped like an LPAR's or a PC's sysfs) and point the connector at it.
Host paths (``/sys/class/fc_host``) are always written as on the host and mapped
under the root here, in one place.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from zcompute.errors import InvalidInput
from zcompute.volumes._names import normalize_wwpn

FC_HOST_CLASS = "/sys/class/fc_host"
_HOST_RE = re.compile(r"host(\d+)")


class HostFs:
    """Maps host paths under ``root`` and does the few sysfs reads and writes needed."""

    def __init__(self, root: Path | str = "/") -> None:
        self.root = Path(root)

    def path(self, host_path: str) -> Path:
        """Where the host path ``/sys/...`` lives under the root."""
        return self.root / host_path.lstrip("/")

    def host_path(self, real: Path | str) -> str:
        """The host path of a real path under the root (unchanged when outside it)."""
        try:
            return "/" + Path(real).relative_to(self.root).as_posix()
        except ValueError:
            return str(real)

    def resolve(self, host_path: str) -> Path:
        """Follow every symlink of a host path (real path on this filesystem)."""
        return Path(os.path.realpath(self.path(host_path)))

    def read(self, host_path: str) -> str:
        return self.path(host_path).read_text(encoding="ascii").strip()

    def write(self, host_path: str, value: str) -> None:
        """Write a sysfs attribute; the kernel acts on the single write() of ``value``."""
        with open(self.path(host_path), "w", encoding="ascii") as attribute:
            attribute.write(value)

    def exists(self, host_path: str) -> bool:
        return self.path(host_path).exists()

    def glob(self, host_dir: str, pattern: str) -> list[Path]:
        return sorted(self.path(host_dir).glob(pattern))


@dataclass(frozen=True)
class FcHba:
    """One FC host adapter from ``/sys/class/fc_host/hostN``."""

    host: str
    port_name: str
    node_name: str
    port_state: str
    device_path: (
        str  # real sysfs path as on the host, e.g. /sys/devices/css0/.../host0/fc_host/host0
    )

    @property
    def online(self) -> bool:
        return self.port_state == "Online"

    @property
    def host_number(self) -> int:
        match = _HOST_RE.fullmatch(self.host)
        return int(match.group(1)) if match else -1


def discover_fc_hbas(fs: HostFs) -> tuple[list[FcHba], list[str]]:
    """Read every FC HBA, ordered by host number; return them and notes on unreadable ones."""
    hbas: list[FcHba] = []
    problems: list[str] = []
    for class_dir in fs.glob(FC_HOST_CLASS, "host*"):
        try:
            hbas.append(_read_hba(fs, class_dir))
        except (OSError, UnicodeDecodeError, InvalidInput) as err:
            problems.append(f"{class_dir.name}: {err}")
    hbas.sort(key=lambda hba: (hba.host_number, hba.host))
    return hbas, problems


def _read_hba(fs: HostFs, class_dir: Path) -> FcHba:
    base = f"{FC_HOST_CLASS}/{class_dir.name}"
    return FcHba(
        host=class_dir.name,
        port_name=normalize_wwpn(fs.read(f"{base}/port_name"), f"{base}/port_name"),
        node_name=normalize_wwpn(fs.read(f"{base}/node_name"), f"{base}/node_name"),
        port_state=fs.read(f"{base}/port_state"),
        device_path=fs.host_path(os.path.realpath(class_dir)),
    )


def device_parent_of_host(device_path: str) -> tuple[list[str], int] | None:
    """Split an HBA device path and find the component naming the SCSI host.

    Returns the components and the index of the first ``hostN`` (or ``net``, for FCoE
    whose host hangs below a network interface); the component before it is the
    adapter's own bus address.
    """
    parts = device_path.split("/")
    for index, part in enumerate(parts):
        if index > 0 and (part == "net" or _HOST_RE.fullmatch(part)):
            return parts, index
    return None
