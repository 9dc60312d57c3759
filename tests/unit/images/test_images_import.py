"""Importing disk images: streamed, hashed, detected, stored read-only, atomic."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from zcompute.errors import Conflict, ImageError, InvalidInput
from zcompute.images import CHUNK_SIZE, ImageStore
from zcompute.state import StateDB

from .image_support import MIB, qemu_img_create, sha256_of, store_entries, write_pattern


def test_qcow2_import_is_detected_hashed_and_stored_read_only(
    store: ImageStore, db: StateDB, work: Path
) -> None:
    source = qemu_img_create(work / "guest.qcow2", "qcow2", "64M")
    write_pattern(source, "qcow2", 0x5A, 0, MIB)
    image = store.import_file("guest", source, arch="s390x", properties={"os_distro": "debian"})

    assert image.disk_format == "qcow2"
    assert image.virtual_size == 64 * MIB
    assert image.sha256 == sha256_of(source)
    assert image.size == source.stat().st_size
    assert image.path == store.images_dir / image.id / "disk"
    assert image.path.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(image.path.stat().st_mode) == 0o440  # QEMU's group reads it
    assert stat.S_IMODE(image.path.parent.stat().st_mode) == 0o750
    assert stat.S_IMODE(store.images_dir.stat().st_mode) == 0o711
    assert db.find_image("guest") == image == store.get(image.id)
    assert store.list() == [image]
    assert store_entries(store) == [image.id]


def test_raw_import_keeps_holes(store: ImageStore, work: Path) -> None:
    source = work / "disk.raw"
    with source.open("wb") as handle:
        handle.truncate(64 * MIB)
        handle.seek(40 * MIB + 17)
        handle.write(b"boot sector somewhere in the middle")
    image = store.import_file("raw-disk", source)

    assert image.disk_format == "raw"
    assert image.virtual_size == 64 * MIB
    assert image.sha256 == sha256_of(source)
    assert image.path is not None
    assert image.path.stat().st_size == 64 * MIB
    assert image.path.stat().st_blocks * 512 <= 2 * MIB  # written sparsely, not 64 MiB


def test_progress_reports_every_chunk_up_to_the_total(store: ImageStore, work: Path) -> None:
    source = work / "data.raw"
    source.write_bytes(os.urandom(3 * CHUNK_SIZE + 12345))
    calls: list[tuple[int, int]] = []
    store.import_file("data", source, progress=lambda done, total: calls.append((done, total)))

    total = source.stat().st_size
    assert len(calls) == 4
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1] == (total, total)


def test_progress_callback_can_cancel_and_nothing_is_left(
    store: ImageStore, db: StateDB, work: Path
) -> None:
    source = work / "data.raw"
    source.write_bytes(os.urandom(3 * CHUNK_SIZE))

    def cancel(done: int, total: int) -> None:
        if done > CHUNK_SIZE:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.import_file("data", source, progress=cancel)
    assert store_entries(store) == []
    assert db.list_images() == []


def test_expected_checksum_is_verified(store: ImageStore, db: StateDB, work: Path) -> None:
    source = qemu_img_create(work / "a.qcow2", "qcow2", "16M")
    good = sha256_of(source)
    with pytest.raises(ImageError, match="checksum mismatch"):
        store.import_file("a", source, expected_sha256="0" * 64)
    assert store_entries(store) == []
    assert db.list_images() == []
    assert store.import_file("a", source, expected_sha256=good.upper()).sha256 == good


def test_malformed_expected_checksum_is_invalid_input(store: ImageStore, work: Path) -> None:
    source = qemu_img_create(work / "a.qcow2", "qcow2", "16M")
    with pytest.raises(InvalidInput) as info:
        store.import_file("a", source, expected_sha256="md5:abc")
    assert info.value.field == "expected_sha256"


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("../escape", "image.name"),
        ("a b", "image.name"),
        ("0b5f3c9e-2d41-4c8a-9f6e-7a1d2b3c4d5e", "image.name"),
    ],
)
def test_bad_names_are_refused_before_copying(
    store: ImageStore, work: Path, name: str, field: str
) -> None:
    source = qemu_img_create(work / "a.qcow2", "qcow2", "16M")
    with pytest.raises(InvalidInput) as info:
        store.import_file(name, source)
    assert info.value.field == field
    assert store_entries(store) == []


def test_duplicate_name_is_a_conflict(store: ImageStore, work: Path) -> None:
    source = qemu_img_create(work / "a.qcow2", "qcow2", "16M")
    store.import_file("a", source)
    with pytest.raises(Conflict, match="'a' already exists"):
        store.import_file("a", source)
    assert len(store.list()) == 1


def test_name_taken_during_the_copy_leaves_no_file(store: ImageStore, work: Path) -> None:
    """A concurrent import finishing first: the database refuses the second record."""
    source = work / "big.raw"
    source.write_bytes(os.urandom(2 * CHUNK_SIZE))
    rival = qemu_img_create(work / "rival.qcow2", "qcow2", "16M")
    raced = False

    def rival_finishes_first(done: int, total: int) -> None:
        nonlocal raced
        if not raced:
            raced = True
            store.import_file("shared-name", rival)

    with pytest.raises(Conflict):
        store.import_file("shared-name", source, progress=rival_finishes_first)
    [winner] = store.list()
    assert winner.sha256 == sha256_of(rival)
    assert store_entries(store) == [winner.id]


def test_arch_and_properties_are_checked(store: ImageStore, work: Path) -> None:
    source = qemu_img_create(work / "a.qcow2", "qcow2", "16M")
    with pytest.raises(InvalidInput, match="contradicts hw_architecture"):
        store.import_file("a", source, arch="s390x", properties={"hw_architecture": "x86_64"})
    with pytest.raises(InvalidInput) as info:
        store.import_file("a", source, properties={"hw_disk_bus": "floppy"})
    assert info.value.field == "hw_disk_bus"
    with pytest.raises(InvalidInput) as info:
        store.import_file("a", source, arch="sparc")
    assert info.value.field == "arch"
    image = store.import_file("a", source, properties={"hw_architecture": "x86_64", "x": "y"})
    assert image.arch == "x86_64"
    assert image.prop("x") == "y"
    assert store_entries(store) == [image.id]


@pytest.mark.parametrize("kind", ["missing", "directory", "device"])
def test_only_regular_files_are_imported(store: ImageStore, work: Path, kind: str) -> None:
    source = {"missing": work / "nope", "directory": work, "device": Path("/dev/zero")}[kind]
    with pytest.raises(ImageError):
        store.import_file("a", source)
    assert store_entries(store) == []
