"""Unsafe and unsupported images are refused, and a refused import leaves nothing behind."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from zcompute.errors import ImageError
from zcompute.images import ImageStore, check_qcow2_header
from zcompute.images._qemuimg import verdict
from zcompute.state import StateDB

from .image_support import info, qemu_img_create, store_entries


def _refused(store: ImageStore, db: StateDB, source: Path, match: str) -> ImageError:
    with pytest.raises(ImageError, match=match) as caught:
        store.import_file("candidate", source)
    assert store_entries(store) == []
    assert db.list_images() == []
    return caught.value


def test_backing_file_pointing_at_etc_passwd_is_refused(
    store: ImageStore, db: StateDB, work: Path
) -> None:
    evil = qemu_img_create(work / "evil.qcow2", "qcow2", "1M", "-b", "/etc/passwd", "-F", "raw")
    err = _refused(store, db, evil, "backing file")
    assert "/etc/passwd" in str(err)
    assert str(evil) in str(err)  # names the file the operator gave, not the staging copy


def test_relative_backing_file_without_format_is_refused(
    store: ImageStore, db: StateDB, work: Path
) -> None:
    qemu_img_create(work / "base.qcow2", "qcow2", "1M")
    child = work / "child.qcow2"
    # -u: do not open the backing file; the header just names it
    qemu_img_create(child, "qcow2", "1M", "-u", "-b", "base.qcow2", "-F", "qcow2")
    _refused(store, db, child, "backing file 'base.qcow2'")


def test_external_data_file_is_refused(store: ImageStore, db: StateDB, work: Path) -> None:
    source = qemu_img_create(work / "ext.qcow2", "qcow2", "1M", "-o", "data_file=/etc/shadow")
    _refused(store, db, source, "external data file")


def test_encrypted_qcow2_is_refused(store: ImageStore, db: StateDB, work: Path) -> None:
    # Crafted rather than made with qemu-img's LUKS option, whose key-derivation benchmark
    # makes creation slow and, with a short iter-time, randomly fail.
    source = qemu_img_create(work / "enc.qcow2", "qcow2", "1M")
    with source.open("r+b") as handle:
        handle.seek(32)  # crypt_method
        handle.write(struct.pack(">I", 2))  # LUKS
    _refused(store, db, source, "encrypted")


@pytest.mark.parametrize("fmt", ["vmdk", "vdi", "vpc", "qed"])
def test_formats_other_than_raw_and_qcow2_are_refused(
    store: ImageStore, db: StateDB, work: Path, fmt: str
) -> None:
    source = qemu_img_create(work / f"disk.{fmt}", fmt, "1M")
    _refused(store, db, source, f"format '{fmt}' is not supported")


def test_raw_file_carrying_a_qcow2_header_with_backing_is_refused(
    store: ImageStore, db: StateDB, work: Path
) -> None:
    """A guest can write a qcow2 header into its raw disk; re-importing that disk is refused."""
    header = qemu_img_create(work / "evil.qcow2", "qcow2", "1M", "-b", "/etc/passwd", "-F", "raw")
    disguised = work / "innocent.raw"
    shutil.copyfile(header, disguised)
    _refused(store, db, disguised, "backing file '/etc/passwd'")


def test_qemu_img_verdict_refuses_backing_files_on_its_own(work: Path) -> None:
    """Second line of defence: qemu-img's own answer, should the header check ever miss."""
    evil = qemu_img_create(work / "evil.qcow2", "qcow2", "1M", "-b", "/etc/passwd", "-F", "raw")
    with pytest.raises(ImageError, match="backing file '/etc/passwd'"):
        verdict("evil.qcow2", info(evil))
    ext = qemu_img_create(work / "ext.qcow2", "qcow2", "1M", "-o", "data_file=/etc/hosts")
    with pytest.raises(ImageError, match="external data file '/etc/hosts'"):
        verdict("ext.qcow2", info(ext))
    good = qemu_img_create(work / "good.qcow2", "qcow2", "2M")
    assert verdict("good.qcow2", info(good)).virtual_size == 2 << 20


def test_header_check_ignores_files_that_are_not_qcow2(work: Path) -> None:
    short = work / "short"
    short.write_bytes(b"QFI\xfb")
    check_qcow2_header(short)  # too short to be qcow2: qemu-img will call it raw
    raw = work / "zeros"
    raw.write_bytes(bytes(4096))
    check_qcow2_header(raw)


def test_qcow2_v2_with_backing_is_refused(store: ImageStore, db: StateDB, work: Path) -> None:
    old = qemu_img_create(
        work / "v2.qcow2", "qcow2", "1M", "-o", "compat=0.10", "-b", "/etc/passwd", "-F", "raw"
    )
    _refused(store, db, old, "backing file")
