"""Deciding the format of an untrusted disk file, once, before QEMU ever opens it.

The decision is made by oslo.utils' format inspector, the one Nova, Glance and Cinder share
since the 2024 format-confusion advisories: it reads the file's headers in one pass with every
inspector at once, refuses a file that looks like two formats (a qcow2 inside an ISO, a VMDK
descriptor naming host files), and its safety checks refuse qcow2 backing files, external data
files and unknown incompatible features. zcompute then accepts only what it can give a guest
safely: ``qcow2`` and ``raw`` (a raw disk may hold a GPT or MBR partition table or an ISO 9660
file system: the guest sees the bytes, QEMU interprets nothing).

The answer is recorded with the image or the volume and handed to libvirt explicitly from then
on: nothing reads the header of a disk again after a guest has written to it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from oslo_utils.imageutils import format_inspector

from zcompute.errors import ImageError
from zcompute.images._header import check_qcow2_header
from zcompute.model import DISK_FORMATS

__all__ = ["RAW_LAYOUTS", "detect_format"]

# What the inspector may call a file that zcompute hands to a guest as raw bytes.
RAW_LAYOUTS = ("raw", "gpt", "mbr", "iso")
_QEMU_NAMES = {"vhd": "vpc"}  # the inspector's names where QEMU's differ

# The inspector logs every failed safety check at warning level; zcompute reports it itself.
logging.getLogger(format_inspector.__name__).setLevel(logging.ERROR)


def detect_format(path: str, label: str, requested: str | None = None) -> str:
    """The format (``qcow2`` or ``raw``) zcompute will use for the file at ``path``.

    ``requested`` is a format the operator stated: ``raw`` is taken as it is (raw bytes are
    never interpreted, so nothing in them can name a host file); ``qcow2`` must be what the
    file is. Raises :class:`ImageError` naming ``label`` for anything unsafe or unsupported.
    """
    if requested is not None and requested not in DISK_FORMATS:
        raise ImageError(
            f"{label}: format {requested!r} is not supported (allowed: {', '.join(DISK_FORMATS)})"
        )
    if requested == "raw":
        return "raw"
    try:
        inspector = format_inspector.detect_file_format(path)
    except format_inspector.ImageFormatError as err:
        raise ImageError(f"{label}: refused, its format is ambiguous: {err}") from err
    except OSError as err:
        raise ImageError(f"{label}: cannot read it: {err.strerror}") from err
    name = _QEMU_NAMES.get(str(inspector), str(inspector)) if inspector is not None else "raw"
    found = "raw" if name in RAW_LAYOUTS else name
    if found not in DISK_FORMATS:
        raise ImageError(
            f"{label}: format {name!r} is not supported (allowed: {', '.join(DISK_FORMATS)})"
        )
    if found == "qcow2":
        check_qcow2_header(Path(path), label)  # names the backing or data file it refuses
    try:
        if inspector is not None:
            inspector.safety_check()
    except format_inspector.SafetyCheckFailed as err:
        problems = "; ".join(f"{check}: {why}" for check, why in err.failures.items())
        raise ImageError(f"{label}: unsafe {name} image refused ({problems})") from err
    if requested is not None and requested != found:
        raise ImageError(f"{label}: it is a {found} image, not {requested}")
    return found
