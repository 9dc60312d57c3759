"""Running ``qemu-img``, and deciding whether a disk image is safe to hand to a guest.

An uploaded image is untrusted input. The dangerous ones are qcow2 files that name another
file (a *backing file* or an *external data file*): QEMU would open that file on the host and
show its content to the guest, e.g. a backing file ``/etc/shadow``. They are refused twice:
first by reading the qcow2 header here, before ``qemu-img`` opens anything, then from
``qemu-img info``'s answer. ``qemu-img info`` itself runs under an address-space and CPU-time
limit, because a crafted image can make it allocate or loop without bound.

Paths passed to qemu-img are always absolute: a relative name with a colon (``nbd:host:...``)
would be taken as a protocol. Formats are always given explicitly (``-f``/``-F``): they are
decided once by the format inspector (:mod:`._inspect`), so qemu-img never probes, and a raw
image whose content starts like a qcow2 header is never taken for one.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zcompute.errors import ImageError
from zcompute.images._header import WHY_BACKING, check_qcow2_header
from zcompute.images._inspect import detect_format
from zcompute.model import DISK_FORMATS

__all__ = [
    "DiskInfo",
    "backing_chain",
    "check_qcow2_header",
    "convert_to_qcow2",
    "create_blank",
    "create_overlay",
    "inspect_disk",
    "qemu_img",
    "verdict",
]

QEMU_IMG = "qemu-img"
INFO_ADDRESS_SPACE = 1 << 30  # bytes; the limit Nova also uses for qemu-img info
INFO_CPU_SECONDS = 30
INFO_TIMEOUT = 60.0
LONG_TIMEOUT = 3600.0  # convert of a large disk


@dataclasses.dataclass(frozen=True)
class DiskInfo:
    """What :func:`inspect_disk` learnt about a disk image that passed the checks."""

    format: str
    virtual_size: int
    actual_size: int


def qemu_img(args: Sequence[str], *, what: str, limited: bool = False, timeout: float) -> str:
    """Run ``qemu-img`` with ``args``; return its stdout or raise ImageError with its stderr."""
    exe = shutil.which(QEMU_IMG)
    if exe is None:
        raise ImageError(f"{what}: {QEMU_IMG} not found in PATH (install qemu-utils)")
    command = [exe, *args]
    prlimit = shutil.which("prlimit")
    if limited and prlimit is not None:
        # prlimit applies the limits to the exec'd program only; a preexec_fn would do the
        # same but is unsafe in a threaded process.
        command = [
            prlimit,
            f"--as={INFO_ADDRESS_SPACE}",
            f"--cpu={INFO_CPU_SECONDS}",
            "--",
            *command,
        ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        raise ImageError(f"{what}: qemu-img did not finish within {timeout:.0f} s") from err
    if done.returncode != 0:
        detail = done.stderr.strip() or f"exit status {done.returncode}"
        raise ImageError(f"{what}: qemu-img failed: {detail}")
    return done.stdout


def _info(path: Path, *extra: str) -> Any:
    out = qemu_img(
        ["info", "--output=json", *extra, str(path.absolute())],
        what=f"inspecting {path.name}",
        limited=True,
        timeout=INFO_TIMEOUT,
    )
    try:
        return json.loads(out)
    except ValueError as err:
        raise ImageError(
            f"inspecting {path.name}: qemu-img printed no JSON: {out[:200]!r}"
        ) from err


def inspect_disk(path: Path, label: str | None = None, requested: str | None = None) -> DiskInfo:
    """Decide the format of an untrusted image and refuse anything unsafe or unsupported.

    Three gates, each enough on its own for the classic holes: the format inspector decides
    the format (:mod:`._inspect`), zcompute's own qcow2 header check refuses backing files,
    data files and encryption, and ``qemu-img info`` run with that format given explicitly
    (never probing) must agree. ``label`` names the image in error messages (e.g. the file
    the user imported); ``requested`` is a format the operator stated.
    """
    name = label or path.name
    fmt = detect_format(str(path), name, requested)  # runs check_qcow2_header on a qcow2
    info = _info(path, "-f", fmt)
    if not isinstance(info, Mapping):
        raise ImageError(f"inspecting {name}: unexpected qemu-img output")
    return verdict(name, info)


def verdict(name: str, info: Mapping[str, Any]) -> DiskInfo:
    """Judge ``qemu-img info --output=json`` of an image called ``name``; raise if unsafe."""
    fmt = info.get("format")
    if fmt not in DISK_FORMATS:
        raise ImageError(
            f"{name}: format {fmt!r} is not supported (allowed: {', '.join(DISK_FORMATS)})"
        )
    if "backing-filename" in info or "full-backing-filename" in info:
        raise ImageError(
            f"{name}: image with backing file {info.get('backing-filename')!r} refused: "
            + WHY_BACKING
        )
    specific = info.get("format-specific", {}).get("data", {})
    if "data-file" in specific:
        raise ImageError(f"{name}: image with external data file {specific['data-file']!r} refused")
    if info.get("encrypted") or specific.get("encrypt"):
        raise ImageError(f"{name}: encrypted images are not supported")
    if specific.get("corrupt"):
        raise ImageError(f"{name}: qcow2 image is marked corrupt (run qemu-img check -r)")
    virtual = info.get("virtual-size")
    if not isinstance(virtual, int) or virtual <= 0:
        raise ImageError(f"{name}: image has no usable virtual size ({virtual!r})")
    return DiskInfo(format=fmt, virtual_size=virtual, actual_size=int(info.get("actual-size", 0)))


def backing_chain(path: Path, fmt: str) -> list[Mapping[str, Any]]:
    """``qemu-img info --backing-chain`` of a disk whose top format is known (top first)."""
    check_fmt(fmt)
    chain = _info(path, "-f", fmt, "--backing-chain")
    if not isinstance(chain, list):
        raise ImageError(f"inspecting {path.name}: unexpected qemu-img output")
    return chain


def check_fmt(fmt: str) -> None:
    if fmt not in DISK_FORMATS:
        raise ImageError(
            f"disk format {fmt!r} is not supported (allowed: {', '.join(DISK_FORMATS)})"
        )


def create_overlay(base: Path, base_format: str, dest: Path, size: int) -> None:
    """Create ``dest``: a qcow2 of ``size`` bytes backed by ``base`` (format given, not probed)."""
    check_fmt(base_format)
    backing = ["-b", str(base.absolute()), "-F", base_format]
    qemu_img(
        ["create", "-q", "-f", "qcow2", *backing, str(dest.absolute()), str(size)],
        what=f"creating overlay {dest.name}",
        timeout=INFO_TIMEOUT,
    )


def create_blank(dest: Path, size: int) -> None:
    """Create ``dest``: an empty qcow2 of ``size`` bytes."""
    qemu_img(
        ["create", "-q", "-f", "qcow2", str(dest.absolute()), str(size)],
        what=f"creating disk {dest.name}",
        timeout=INFO_TIMEOUT,
    )


def virtual_size(path: Path, fmt: str) -> int:
    """The size in bytes of the disk a guest sees in ``path``, whose format is known (never
    probed); ``-U``: a running guest's QEMU holds its lock, and only the header is read."""
    check_fmt(fmt)
    info = _info(path, "-f", fmt, "-U")
    size = info.get("virtual-size") if isinstance(info, Mapping) else None
    if not isinstance(size, int):
        raise ImageError(f"inspecting {path.name}: qemu-img reported no virtual size")
    return size


def grow(path: Path, fmt: str, size: int) -> None:
    """Make the disk in ``path`` (format known) ``size`` bytes large; never smaller."""
    check_fmt(fmt)
    if virtual_size(path, fmt) >= size:
        return  # already that large: a repeated step changes nothing
    qemu_img(
        ["resize", "-q", "-f", fmt, str(path.absolute()), str(size)],
        what=f"growing {path.name}",
        timeout=INFO_TIMEOUT,
    )


def convert_to_qcow2(source: Path, source_format: str, dest: Path) -> None:
    """Write the whole content of ``source`` (and its backing chain) into a standalone qcow2."""
    check_fmt(source_format)
    paths = [str(source.absolute()), str(dest.absolute())]
    qemu_img(
        ["convert", "-q", "-f", source_format, "-O", "qcow2", *paths],
        what=f"flattening {source.name}",
        timeout=LONG_TIMEOUT,
    )
