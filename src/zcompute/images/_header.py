"""zcompute's own reading of a qcow2 header: names what the file would make QEMU open."""

from __future__ import annotations

import struct
from pathlib import Path

from zcompute.errors import ImageError

__all__ = ["WHY_BACKING", "check_qcow2_header"]

_QCOW2_MAGIC = b"QFI\xfb"
_QCOW2_HEADER_BYTES = 80  # through the v3 incompatible-features field
_QCOW2_DATA_FILE_BIT = 1 << 2  # incompatible feature "external data file"
WHY_BACKING = "images must be standalone; a backing file can expose host files to the guest"


def check_qcow2_header(path: Path, label: str | None = None) -> None:
    """Refuse a qcow2 file naming a backing or data file, or encrypted, from its header alone."""
    name = label or path.name
    with path.open("rb") as handle:
        header = handle.read(_QCOW2_HEADER_BYTES)
        if len(header) < _QCOW2_HEADER_BYTES or header[:4] != _QCOW2_MAGIC:
            return  # not qcow2 (or too short to be one); qemu-img decides what it is
        version, backing_offset, backing_size = struct.unpack_from(">IQI", header, 4)
        if backing_offset != 0:
            handle.seek(backing_offset)
            backing = handle.read(min(backing_size, 1023)).decode("utf-8", "replace")
            raise ImageError(f"{name}: image with backing file {backing!r} refused: {WHY_BACKING}")
    (crypt_method,) = struct.unpack_from(">I", header, 32)
    if crypt_method != 0:
        raise ImageError(f"{name}: encrypted qcow2 images are not supported")
    if version >= 3:
        (incompatible,) = struct.unpack_from(">Q", header, 72)
        if incompatible & _QCOW2_DATA_FILE_BIT:
            raise ImageError(f"{name}: qcow2 image with an external data file refused")
