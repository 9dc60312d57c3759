"""Kernel images, deletion (refused while in use) and recovery after a crash."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from zcompute.errors import Conflict, ImageError, InvalidInput, NotFound
from zcompute.images import ImageStore
from zcompute.model import Flavor, Instance, new_uuid
from zcompute.state import StateDB

from .image_support import qemu_img_create, sha256_of, store_entries


@pytest.fixture
def kernel_files(work: Path) -> tuple[Path, Path]:
    kernel, initrd = work / "vmlinuz", work / "initrd.img"
    kernel.write_bytes(os.urandom(300_000))
    initrd.write_bytes(os.urandom(1_500_000))
    return kernel, initrd


def test_kernel_image_is_copied_read_only_with_both_digests(
    store: ImageStore, db: StateDB, kernel_files: tuple[Path, Path]
) -> None:
    kernel, initrd = kernel_files
    progress: list[tuple[int, int]] = []
    image = store.import_kernel(
        "s390x-test",
        kernel,
        initrd,
        "console=ttysclp0 console=ttyS0",
        "s390x",
        {"hw_machine_type": "s390-ccw-virtio"},
        progress=lambda done, total: progress.append((done, total)),
    )
    assert image.is_kernel_boot
    assert (image.arch, image.cmdline) == ("s390x", "console=ttysclp0 console=ttyS0")
    assert image.kernel_path is not None
    assert image.initrd_path is not None
    assert image.kernel_path.read_bytes() == kernel.read_bytes()
    assert image.initrd_path.read_bytes() == initrd.read_bytes()
    assert image.sha256 == sha256_of(kernel)
    assert image.initrd_sha256 == sha256_of(initrd)
    assert image.size == 1_800_000
    for path in (image.kernel_path, image.initrd_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o440
    # one running total across both files
    assert progress[-1] == (1_800_000, 1_800_000)
    assert all(total == 1_800_000 for _, total in progress)
    assert db.find_image("s390x-test") == image


def test_kernel_without_initrd_takes_the_command_line_property(
    store: ImageStore, kernel_files: tuple[Path, Path]
) -> None:
    image = store.import_kernel(
        "bare", kernel_files[0], None, None, "x86_64", {"os_command_line": "console=ttyS0"}
    )
    assert image.initrd_path is None
    assert image.initrd_sha256 is None
    assert image.cmdline == "console=ttyS0"


def test_kernel_import_checks_arch_and_files_first(
    store: ImageStore, work: Path, kernel_files: tuple[Path, Path]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        store.import_kernel("k", kernel_files[0], None, None, "m68k")
    assert caught.value.field == "arch"
    with pytest.raises(ImageError, match="cannot read"):
        store.import_kernel("k", kernel_files[0], work / "missing-initrd", None, "s390x")
    with pytest.raises(InvalidInput):
        store.import_kernel("k", kernel_files[0], None, "quiet\x00evil", "s390x")
    assert store_entries(store) == []


def _instance_using(db: StateDB, image_name: str) -> Instance:
    image = db.find_image(image_name)
    return db.add_instance(
        Instance(
            uuid=new_uuid(),
            name="vm-1",
            flavor=Flavor("f", 1, 128, 1),
            image=image,
            arch="s390x",
        )
    )


def test_delete_removes_files_and_record(store: ImageStore, db: StateDB, work: Path) -> None:
    store.import_file("a", qemu_img_create(work / "a.qcow2", "qcow2", "16M"))
    store.delete("a")
    assert store_entries(store) == []
    assert db.list_images() == []
    with pytest.raises(NotFound):
        store.delete("a")


def test_delete_is_refused_while_an_instance_uses_the_image(
    store: ImageStore, db: StateDB, work: Path
) -> None:
    image = store.import_file("a", qemu_img_create(work / "a.qcow2", "qcow2", "16M"))
    inst = _instance_using(db, "a")
    with pytest.raises(Conflict, match="in use by instances: vm-1"):
        store.delete(image.id)
    assert image.path is not None
    assert image.path.is_file()
    assert store.get("a") == image
    db.delete_instance(inst.uuid)
    store.delete(image.id)
    assert store_entries(store) == []


def test_recover_removes_leftovers_and_reports_missing_files(
    store: ImageStore, db: StateDB, work: Path
) -> None:
    kept = store.import_file("kept", qemu_img_create(work / "a.qcow2", "qcow2", "16M"))
    broken = store.import_file("broken", qemu_img_create(work / "b.qcow2", "qcow2", "16M"))
    assert broken.path is not None
    broken.path.unlink()
    # what a crash can leave: a half-copied import, a half-deleted image, an unrecorded dir
    leftovers = [
        store.images_dir / f".partial-{new_uuid()}",
        store.images_dir / f".trash-{new_uuid()}",
        store.images_dir / new_uuid(),
    ]
    for path in leftovers:
        path.mkdir()
        (path / "disk").write_bytes(b"x")
    foreign = store.images_dir / "README"
    foreign.write_text("an operator's note: not ours to delete")

    report = store.recover()

    assert sorted(report.removed) == sorted(leftovers)
    assert [i.name for i in report.missing] == ["broken"]
    assert foreign.exists()
    assert sorted(store_entries(store)) == sorted(["README", kept.id, broken.id])


def test_adopt_copies_another_store_s_image_with_its_id_or_takes_the_same_one_here(
    store: ImageStore, tmp_path: Path, work: Path
) -> None:
    """A guest migrating in: the other store's image comes with its id and checked bytes;
    an image here of the same name and bytes (the same Glance image, fetched here too) is
    taken as it is, one of the same name with other bytes is refused."""
    (work / "vmlinuz").write_bytes(b"kernel " * 100)
    with StateDB(tmp_path / "other" / "state.sqlite3") as other_db:
        other = ImageStore(tmp_path / "other", other_db)
        theirs = other.import_kernel("glance-k1", work / "vmlinuz", None, "console=x", "s390x")
        adopted = store.adopt(theirs)
        assert adopted.id == theirs.id
        assert adopted.kernel_path is not None
        assert adopted.kernel_path.read_bytes() == b"kernel " * 100
        assert store.adopt(theirs) == adopted  # made once
        (work / "vmlinuz2").write_bytes(b"other " * 100)
        again = other.import_kernel("glance-k2", work / "vmlinuz", None, "console=x", "s390x")
        mine = store.import_kernel("glance-k2", work / "vmlinuz", None, "console=x", "s390x")
        assert store.adopt(again) == mine  # same name, same bytes: this store's own
        changed = other.import_kernel("glance-k3", work / "vmlinuz", None, "console=x", "s390x")
        store.import_kernel("glance-k3", work / "vmlinuz2", None, "console=x", "s390x")
        with pytest.raises(Conflict, match="glance-k3 here is another image"):
            store.adopt(changed)
