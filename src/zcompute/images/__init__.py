"""The image store: checked, read-only base images and per-instance qcow2 overlays.

    db = StateDB(data_dir / "state.sqlite3")
    store = ImageStore(data_dir, db)
    image = store.import_file("debian", Path("debian.qcow2"), arch="s390x")
    disk = store.create_overlay(image, instance_dir / "disk", flavor.root_gib)

The store records its images in the state database it is given, so that deleting an image an
instance still uses is refused by the same database that records the instance.
"""

from __future__ import annotations

from pathlib import Path

from zcompute.images._access import (
    DIR_SHARED,
    DIR_TRAVERSE,
    FILE_PRIVATE,
    QemuIds,
    forget_stale_labels,
    install_copy,
    make_data_dir,
    make_dir,
    private_file,
    qemu_ids,
    remove_tree,
    restrict,
    tighten,
    traverse_problem,
    unsafe_directory,
)
from zcompute.images._copy import (
    CHUNK_SIZE,
    Progress,
    copy_sparse,
    file_kind,
    fsync_dir,
    open_regular,
)
from zcompute.images._inspect import detect_format
from zcompute.images._qemuimg import DiskInfo, check_qcow2_header, grow, inspect_disk, virtual_size
from zcompute.images._store import GIB, ImageStore, Recovery

__all__ = [
    "CHUNK_SIZE",
    "DIR_SHARED",
    "DIR_TRAVERSE",
    "FILE_PRIVATE",
    "GIB",
    "DiskInfo",
    "ImageStore",
    "Progress",
    "QemuIds",
    "Recovery",
    "check_qcow2_header",
    "copy_sparse",
    "decide_format",
    "file_kind",
    "forget_stale_labels",
    "fsync_dir",
    "grow",
    "inspect_disk",
    "install_copy",
    "make_data_dir",
    "make_dir",
    "open_regular",
    "private_file",
    "qemu_ids",
    "remove_tree",
    "restrict",
    "tighten",
    "traverse_problem",
    "unsafe_directory",
    "virtual_size",
]


def decide_format(path: Path, label: str, requested: str | None = None) -> str:
    """The format (``qcow2`` or ``raw``) of a disk file, decided once by the same inspector
    that checks images; refuses backing files, data files and unsupported formats."""
    return detect_format(str(path), label, requested)
