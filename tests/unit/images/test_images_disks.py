"""Per-instance overlays and flattening them back into standalone images."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from zcompute.errors import Conflict, ImageError, InvalidInput
from zcompute.images import GIB, ImageStore
from zcompute.model import Image

from .image_support import MIB, info, qemu_img_create, run, store_entries, write_pattern


@pytest.fixture
def base(store: ImageStore, work: Path) -> Image:
    source = qemu_img_create(work / "base.qcow2", "qcow2", "1536M")  # 1.5 GiB virtual
    write_pattern(source, "qcow2", 0x11, 0, MIB)
    return store.import_file("base", source, arch="s390x", properties={"hw_disk_bus": "virtio"})


@pytest.fixture
def instance_dir(tmp_path: Path) -> Path:
    path = tmp_path / "instances" / "vm-1"
    path.mkdir(parents=True)
    return path


def test_overlay_is_backed_by_the_base_with_an_explicit_format(
    store: ImageStore, base: Image, instance_dir: Path
) -> None:
    disk = store.create_overlay(base, instance_dir / "disk", 2)
    details = info(disk)
    assert details["format"] == "qcow2"
    assert details["virtual-size"] == 2 * GIB
    assert details["full-backing-filename"] == str(base.path)
    assert details["backing-filename-format"] == "qcow2"
    assert stat.S_IMODE(disk.stat().st_mode) == 0o600  # libvirt gives it to QEMU while it runs
    assert sorted(p.name for p in instance_dir.iterdir()) == ["disk"]  # no temporary left


def test_overlay_of_size_zero_takes_the_image_size(
    store: ImageStore, base: Image, instance_dir: Path
) -> None:
    disk = store.create_overlay(base, instance_dir / "disk", 0)
    assert info(disk)["virtual-size"] == base.virtual_size


def test_overlay_smaller_than_the_image_is_a_clear_error(
    store: ImageStore, base: Image, instance_dir: Path
) -> None:
    with pytest.raises(InvalidInput) as caught:
        store.create_overlay(base, instance_dir / "disk", 1)
    assert caught.value.field == "root_gib"
    assert "smaller than image base" in str(caught.value)
    assert caught.value.allowed == "2 or more, or 0 for the image's own size"
    assert list(instance_dir.iterdir()) == []


def test_existing_destination_is_never_overwritten(
    store: ImageStore, base: Image, instance_dir: Path
) -> None:
    precious = instance_dir / "disk"
    precious.write_bytes(b"guest data")
    with pytest.raises(Conflict):
        store.create_overlay(base, precious, 2)
    assert precious.read_bytes() == b"guest data"
    assert sorted(p.name for p in instance_dir.iterdir()) == ["disk"]


def test_kernel_images_have_nothing_to_overlay(
    store: ImageStore, work: Path, instance_dir: Path
) -> None:
    kernel = work / "vmlinuz"
    kernel.write_bytes(b"kernel")
    image = store.import_kernel("k", kernel, None, "quiet", "s390x")
    with pytest.raises(InvalidInput, match="kernel boot image"):
        store.create_overlay(image, instance_dir / "disk", 1)


def test_overlay_of_a_base_whose_file_vanished_is_an_image_error(
    store: ImageStore, base: Image, instance_dir: Path
) -> None:
    assert base.path is not None
    base.path.unlink()
    with pytest.raises(ImageError, match="missing"):
        store.create_overlay(base, instance_dir / "disk", 2)


def test_snapshot_flattens_the_overlay_into_a_standalone_image(
    store: ImageStore, base: Image, instance_dir: Path
) -> None:
    disk = store.create_overlay(base, instance_dir / "disk", 2)
    write_pattern(disk, "qcow2", 0x22, 4 * MIB, MIB)  # the guest wrote something
    snap = store.snapshot_from(disk, "base-snap-1")

    assert snap.path is not None
    details = info(snap.path)
    assert "backing-filename" not in details
    assert snap.virtual_size == 2 * GIB
    assert stat.S_IMODE(snap.path.stat().st_mode) == 0o440
    # identical guest-visible content: the base's data and the guest's write
    run("qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", str(disk), str(snap.path))
    # inherited from the base image unless given
    assert snap.arch == "s390x"
    assert snap.prop("hw_disk_bus") == "virtio"
    assert {i.name for i in store.list()} == {"base", "base-snap-1"}


def test_snapshot_refuses_a_disk_backed_from_outside_the_store(
    store: ImageStore, work: Path, instance_dir: Path
) -> None:
    outside = qemu_img_create(work / "outside.qcow2", "qcow2", "16M")
    disk = qemu_img_create(instance_dir / "disk", "qcow2", "16M", "-b", str(outside), "-F", "qcow2")
    with pytest.raises(ImageError, match="outside the store"):
        store.snapshot_from(disk, "sneaky")
    assert store_entries(store) == []


def test_snapshot_name_is_checked_before_any_work(
    store: ImageStore, base: Image, instance_dir: Path
) -> None:
    disk = store.create_overlay(base, instance_dir / "disk", 2)
    with pytest.raises(Conflict):
        store.snapshot_from(disk, "base")
    with pytest.raises(InvalidInput):
        store.snapshot_from(disk, "bad/name")
    assert len(store.list()) == 1


def test_blank_disk_for_kernel_boot_guests(store: ImageStore, instance_dir: Path) -> None:
    disk = store.create_blank(instance_dir / "disk", 3)
    details = info(disk)
    assert details["format"] == "qcow2"
    assert details["virtual-size"] == 3 * GIB
    assert "backing-filename" not in details
    assert stat.S_IMODE(disk.stat().st_mode) == 0o600
    with pytest.raises(Conflict):
        store.create_blank(disk, 3)
    with pytest.raises(InvalidInput) as caught:
        store.create_blank(instance_dir / "other", 0)
    assert caught.value.field == "root_gib"
    assert sorted(p.name for p in instance_dir.iterdir()) == ["disk"]
