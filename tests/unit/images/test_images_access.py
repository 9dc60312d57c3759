"""Who reads the image store's files, and file operations that never follow a planted link.

Base images are root's, read-only, readable by QEMU's group and nobody else; instance disks are
root's alone (libvirt lends them to QEMU while a guest runs). Every test here fails on a store
that publishes world-readable 0444 images in 0755 folders and 0644 disks.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from zcompute.errors import HostFileError, ImageError
from zcompute.images import ImageStore
from zcompute.images._access import (
    QemuIds,
    forget_stale_labels,
    install_copy,
    make_data_dir,
    make_dir,
    private_file,
    qemu_ids,
    remove_tree,
    restrict,
    traverse_problem,
    unsafe_directory,
)
from zcompute.state import StateDB

from .image_support import qemu_img_create

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="giving files to another group needs root")
QEMU_GID = 65534  # any group that is not root's: stands for libvirt-qemu's


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _nobody_can_read(path: Path) -> None:
    st = os.lstat(path)
    assert not st.st_mode & (stat.S_IROTH | stat.S_IWOTH), f"{path} {stat.filemode(st.st_mode)}"


@pytest.fixture
def shared_store(tmp_path: Path, db: StateDB) -> ImageStore:
    """A store that knows QEMU's group (as ComputeDriver's does, from libvirt)."""
    return ImageStore(tmp_path / "data", db, lambda: QEMU_GID)


# -- modes -------------------------------------------------------------------------------------


@needs_root
def test_an_imported_disk_is_root_owned_read_only_and_only_qemus_group_reads_it(
    shared_store: ImageStore, work: Path
) -> None:
    source = qemu_img_create(work / "guest.qcow2", "qcow2", "16M")
    image = shared_store.import_file("guest", source, arch="s390x")
    assert image.path is not None
    st = os.stat(image.path)
    assert (_mode(image.path), st.st_uid, st.st_gid) == (0o440, 0, QEMU_GID)
    folder = os.stat(image.path.parent)
    assert (_mode(image.path.parent), folder.st_uid, folder.st_gid) == (0o750, 0, QEMU_GID)
    assert _mode(shared_store.images_dir) == 0o711  # traversed, never listed
    for path in (image.path, image.path.parent, shared_store.images_dir):
        _nobody_can_read(path)


@needs_root
def test_kernel_images_and_snapshots_get_the_same_modes(
    shared_store: ImageStore, work: Path, tmp_path: Path
) -> None:
    kernel, initrd = work / "vmlinuz", work / "initrd"
    kernel.write_bytes(b"k" * 4096)
    initrd.write_bytes(b"i" * 4096)
    boot = shared_store.import_kernel("boot", kernel, initrd, None, "s390x")
    base = shared_store.import_file(
        "base", qemu_img_create(work / "b.qcow2", "qcow2", "16M"), arch="s390x"
    )
    instance = tmp_path / "instance"
    instance.mkdir()
    disk = shared_store.create_overlay(base, instance / "disk.qcow2", 0)
    snap = shared_store.snapshot_from(disk, "snap")
    for path in (boot.kernel_path, boot.initrd_path, snap.path):
        assert path is not None
        st = os.stat(path)
        assert (_mode(path), st.st_uid, st.st_gid) == (0o440, 0, QEMU_GID)


def test_instance_disks_are_readable_by_root_alone(store: ImageStore, work: Path) -> None:
    base = store.import_file("b", qemu_img_create(work / "b.raw", "raw", "16M"), arch="s390x")
    instance = work / "instance"
    instance.mkdir()
    overlay = store.create_overlay(base, instance / "disk.qcow2", 0)
    blank = store.create_blank(instance / "blank.qcow2", 1)
    assert (_mode(overlay), _mode(blank)) == (0o600, 0o600)


def test_a_store_with_qemus_group_unknown_keeps_images_to_root(
    store: ImageStore, work: Path
) -> None:
    image = store.import_file("b", qemu_img_create(work / "b.raw", "raw", "1M"), arch="s390x")
    assert image.path is not None
    assert os.stat(image.path).st_gid == os.getegid()
    assert (_mode(image.path), _mode(image.path.parent)) == (0o440, 0o750)


@needs_root
def test_sharing_with_qemu_takes_a_base_back_from_the_qemu_user(
    store: ImageStore, work: Path
) -> None:
    """What older zcompute and libvirt left: 0444 and owned by the QEMU user, who could chmod it."""
    image = store.import_file("b", qemu_img_create(work / "b.raw", "raw", "1M"), arch="s390x")
    assert image.path is not None
    os.chown(image.path, 64055, 64055)
    os.chmod(image.path, 0o644)
    os.chmod(image.path.parent, 0o755)
    store.share_with_qemu(image.path, QEMU_GID)
    st = os.stat(image.path)
    assert (_mode(image.path), st.st_uid, st.st_gid) == (0o440, 0, QEMU_GID)
    assert _mode(image.path.parent) == 0o750
    with pytest.raises(ImageError, match="outside the store"):
        store.share_with_qemu(work / "b.raw", QEMU_GID)


def test_an_older_stores_folder_is_tightened_never_widened(tmp_path: Path, db: StateDB) -> None:
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o700)
    os.chmod(data / "images", 0o755)
    ImageStore(data, db)
    assert _mode(data) == 0o700  # the operator's data directory is left as it is
    assert _mode(data / "images") == 0o711


# -- the data directory ------------------------------------------------------------------------


def test_a_missing_data_directory_is_created_traversable_only(tmp_path: Path) -> None:
    data = tmp_path / "a" / "b" / "data"
    make_data_dir(data)
    assert [_mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", data)] == [0o711] * 3


@pytest.mark.parametrize("mode", [0o700, 0o750, 0o755])
def test_an_existing_data_directory_keeps_its_mode(tmp_path: Path, mode: int) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, mode)
    make_data_dir(data)
    assert _mode(data) == mode


def test_a_data_directory_others_can_write_is_named_unsafe(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    assert unsafe_directory(data) is None
    os.chmod(data, 0o1777)
    assert "every user can write" in str(unsafe_directory(data))
    if ROOT:
        os.chmod(data, 0o775)
        os.chown(data, 0, QEMU_GID)
        assert f"group {QEMU_GID} can write" in str(unsafe_directory(data))
        os.chmod(data, 0o755)
        os.chown(data, 65534, 0)
        assert "owned by uid 65534" in str(unsafe_directory(data))


@needs_root
def test_qemu_that_cannot_enter_a_parent_is_named(tmp_path: Path) -> None:
    inner = tmp_path / "closed" / "data"
    inner.mkdir(parents=True)
    os.chown(tmp_path / "closed", 65534, 65534)
    os.chmod(tmp_path / "closed", 0o700)
    # a QEMU user that owns every directory above (root's) but not the closed one
    qemu = QemuIds(0, 0, (0,))
    assert traverse_problem(inner, qemu) == f"{tmp_path / 'closed'} (mode 0700, owner 65534:65534)"
    os.chmod(tmp_path / "closed", 0o701)
    assert traverse_problem(inner, qemu) is None
    os.chmod(tmp_path / "closed", 0o710)
    assert traverse_problem(inner, qemu) is not None
    assert traverse_problem(inner, QemuIds(0, 0, (0, 65534))) is None  # through the group


def test_qemus_ids_come_from_libvirts_dac_label() -> None:
    caps = (
        "<capabilities><host><secmodel><model>none</model><doi>0</doi></secmodel>"
        "<secmodel><model>dac</model><doi>0</doi>"
        "<baselabel type='kvm'>+64055:+994</baselabel>"
        "<baselabel type='qemu'>+64055:+994</baselabel></secmodel></host></capabilities>"
    )
    ids = qemu_ids(caps)
    assert ids is not None
    assert (ids.uid, ids.gid) == (64055, 994)
    assert ids.groups[0] == 994
    by_name = caps.replace("+64055:+994", "root:root")
    assert qemu_ids(by_name) == QemuIds(0, 0, qemu_ids(by_name).groups)  # type: ignore[union-attr]
    test_driver = "<capabilities><host><secmodel><model>testSecurity</model></secmodel></host>"
    assert qemu_ids(test_driver + "</capabilities>") is None
    assert qemu_ids("not xml") is None


# -- links planted in the data directory are not followed ------------------------------------


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A host file root must never write, chmod or remove through a link."""
    path = tmp_path / "victim"
    path.write_text("host secret\n")
    os.chmod(path, 0o600)
    return path


def test_restricting_a_planted_link_is_refused(tmp_path: Path, victim: Path) -> None:
    link = tmp_path / "disk"
    link.symlink_to(victim)
    with pytest.raises(HostFileError, match="symbolic link"):
        restrict(link, 0o644)
    assert _mode(victim) == 0o600


def test_a_directory_where_a_link_is_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = tmp_path / "instance"
    link.symlink_to(target)
    with pytest.raises(HostFileError, match="found a symbolic link"):
        make_dir(link, 0o750)
    assert _mode(target) == 0o700


def test_a_console_log_planted_as_a_link_is_replaced(tmp_path: Path, victim: Path) -> None:
    log = tmp_path / "console.log"
    log.symlink_to(victim)
    private_file(log)
    assert not log.is_symlink()
    assert (_mode(log), log.read_text()) == (0o600, "")
    assert (_mode(victim), victim.read_text()) == (0o600, "host secret\n")
    hard = tmp_path / "hard.log"
    os.link(victim, hard)
    private_file(hard)
    assert os.stat(hard).st_ino != os.stat(victim).st_ino
    os.mkfifo(tmp_path / "fifo.log")
    private_file(tmp_path / "fifo.log")  # would block or fail: replaced by a file
    assert stat.S_ISREG(os.lstat(tmp_path / "fifo.log").st_mode)


def test_an_existing_log_keeps_its_lines_and_loses_its_wide_mode(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_text("boot\n")
    os.chmod(log, 0o644)
    private_file(log)
    assert (_mode(log), log.read_text()) == (0o600, "boot\n")


def test_a_copy_replaces_a_planted_link_instead_of_writing_through_it(
    tmp_path: Path, victim: Path
) -> None:
    source = tmp_path / "kernel-in-store"
    source.write_bytes(b"kernel")
    dest = tmp_path / "kernel"
    dest.symlink_to(victim)
    install_copy(source, dest)
    assert (dest.is_symlink(), dest.read_bytes(), _mode(dest)) == (False, b"kernel", 0o600)
    assert victim.read_text() == "host secret\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kernel", "kernel-in-store", "victim"]


def test_removing_a_tree_never_follows_a_link(tmp_path: Path, victim: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "to-dir").symlink_to(outside)
    (tree / "to-file").symlink_to(victim)
    remove_tree(tree)
    assert not tree.exists()
    assert (outside / "keep").read_text() == "x"
    assert victim.read_text() == "host secret\n"
    as_link = tmp_path / "as-link"
    as_link.symlink_to(outside)
    remove_tree(as_link)  # the link goes, what it points to stays
    assert not os.path.lexists(as_link)
    assert (outside / "keep").exists()
    remove_tree(tmp_path / "missing")  # nothing there: nothing to do


@needs_root  # trusted.* attributes are root's
def test_libvirts_stale_owner_records_are_forgotten_and_nothing_else(tmp_path: Path) -> None:
    """A QEMU killed without libvirt leaves libvirt's relabel records on its guest's files;
    the next start would be refused ("already in use") until a host boot."""
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"")
    os.setxattr(disk, "trusted.libvirt.security.ref_dac", b"1")
    os.setxattr(disk, "trusted.libvirt.security.dac", b"+0:+0")
    os.setxattr(disk, "user.kept", b"yes")
    removed = forget_stale_labels(disk)
    assert sorted(removed) == ["trusted.libvirt.security.dac", "trusted.libvirt.security.ref_dac"]
    assert os.listxattr(disk) == ["user.kept"]
