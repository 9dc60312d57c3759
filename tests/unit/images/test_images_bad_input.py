"""The store refuses what it cannot import at once (no hang on a FIFO), and keeps a kernel-boot
image while another image boots with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.fifo_support import FifoGuard

from zcompute.errors import Conflict, ImageError, InvalidInput
from zcompute.images import ImageStore
from zcompute.model import KERNEL_ID_PROPERTY

from .image_support import qemu_img_create, store_entries


@pytest.fixture
def fifo(work: Path) -> Iterator[FifoGuard]:
    guard = FifoGuard(work / "fifo")
    yield guard
    guard.close()
    assert not guard.rescued, "the reader blocked on the FIFO"


def test_a_fifo_is_refused_at_once_as_disk_kernel_or_initrd(
    store: ImageStore, work: Path, fifo: FifoGuard
) -> None:
    kernel = work / "vmlinuz"
    kernel.write_bytes(b"kernel")
    with pytest.raises(ImageError, match=f"^{fifo.path} is a FIFO, not a regular file$"):
        store.import_file("disk", fifo.path)
    with pytest.raises(ImageError, match="is a FIFO, not a regular file"):
        store.import_kernel("k1", fifo.path, None, None, "s390x")
    with pytest.raises(ImageError, match="is a FIFO, not a regular file"):
        store.import_kernel("k2", kernel, fifo.path, None, "s390x")
    assert store.list() == []
    assert store_entries(store) == []


@pytest.mark.parametrize(
    ("path", "kind"), [("/dev/null", "a character device"), ("/", "a directory")]
)
def test_devices_and_directories_are_refused(store: ImageStore, path: str, kind: str) -> None:
    with pytest.raises(ImageError, match=f"^{path} is {kind}, not a regular file$"):
        store.import_file("disk", Path(path))
    assert store.list() == []


@pytest.mark.parametrize("by", ["id", "name"])
def test_a_kernel_image_that_another_image_boots_with_is_kept(
    store: ImageStore, work: Path, by: str
) -> None:
    """A snapshot of a kernel-boot guest records its kernel image in ``kernel_id``: deleting
    that kernel would leave every guest made from the snapshot unable to start."""
    (work / "vmlinuz").write_bytes(b"kernel " * 100)
    kernel = store.import_kernel("kern", work / "vmlinuz", None, None, "s390x")
    disk = qemu_img_create(work / "snap.qcow2", "qcow2", "16M")
    reference = kernel.id if by == "id" else kernel.name
    snap = store.import_file("snap", disk, properties={KERNEL_ID_PROPERTY: reference})
    with pytest.raises(
        Conflict, match=r"image kern is the kernel-boot image of images snap \(their kernel_id\)"
    ):
        store.delete(kernel.name)
    assert store.get(kernel.id) == kernel
    assert kernel.kernel_path is not None
    assert kernel.kernel_path.is_file()
    store.delete(snap.id)
    store.delete(kernel.id)
    assert store.list() == []


@pytest.mark.parametrize("how", ["arch", "hw_architecture"])
def test_an_image_for_an_architecture_without_a_profile_is_refused_at_import(
    store: ImageStore, work: Path, how: str
) -> None:
    """armv7l once imported fine and failed at boot; now the import names what is allowed."""
    (work / "vmlinuz").write_bytes(b"kernel " * 100)
    disk = qemu_img_create(work / "disk.qcow2", "qcow2", "16M")
    arch, props = ("armv7l", None) if how == "arch" else ("s390x", {how: "armv7l"})
    field = "arch" if how == "arch" else how
    allowed = r"\(allowed: s390x, x86_64, aarch64, ppc64le\)$"
    with pytest.raises(InvalidInput, match=rf"^{field}: unknown value 'armv7l' {allowed}"):
        store.import_kernel("k", work / "vmlinuz", None, None, arch, props)
    with pytest.raises(InvalidInput, match=rf"^{field}: unknown value 'armv7l' {allowed}"):
        store.import_file("d", disk, arch=arch if how == "arch" else None, properties=props)
    assert store.list() == []
