"""Guest data is root's and QEMU's only; --data-dir is never widened; planted links lead nowhere.

The driver runs on ``test:///default`` with the host view of a real x86_64 host and a QEMU
group of its own (libvirt's test driver names no DAC label). Each test fails on a driver that
makes 0755 folders, 0644 disks, hands guests the image store's shared kernel, widens an
existing data directory, or accepts one that other users can write to.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from zcompute.config import Config
from zcompute.driver import ComputeDriver, HostView
from zcompute.errors import ConfigError, HostFileError
from zcompute.images._access import QemuIds
from zcompute.model import Image
from zcompute.xml import Domain

from .driver_support import FLAVOR, HOST_CAPS

HOST = HostView(caps=HOST_CAPS, host_cpu_model=None, kvm_usable=False, libvirt_version=9_000_000)
ROOT = os.geteuid() == 0
QEMU_GID = 65534  # stands for libvirt-qemu's group
pytestmark = pytest.mark.skipif(not ROOT, reason="root's files and other groups need root")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _owner(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid


@pytest.fixture
def drv(test_driver: ComputeDriver) -> ComputeDriver:
    """The test driver as on a real host: a plan for x86_64, QEMU's ids known."""
    test_driver._ctx.host_view = HOST
    # QEMU "owns" every folder above tmp_path (root's): only zcompute's own modes matter here
    test_driver._ctx.qemu_user = (QemuIds(os.geteuid(), QEMU_GID, (QEMU_GID,)),)
    return test_driver


@pytest.fixture
def boot_image(drv: ComputeDriver, tmp_path: Path) -> Image:
    """A kernel-boot image with a kernel and an initrd."""
    kernel, initrd = tmp_path / "vmlinuz", tmp_path / "initrd.img"
    kernel.write_bytes(b"not really a kernel")
    initrd.write_bytes(b"not really an initrd")
    return drv.images.import_kernel("boot", kernel, initrd, None, "x86_64")


@pytest.fixture
def disk_image(drv: ComputeDriver, boot_image: Image, tmp_path: Path) -> Image:
    """A raw disk image that boots with ``boot_image``'s kernel (a snapshot's kind)."""
    raw = tmp_path / "base.raw"
    with raw.open("wb") as handle:
        handle.truncate(1 << 20)
    props = {"kernel_id": boot_image.id}
    return drv.images.import_file("base", raw, arch="x86_64", properties=props)


def test_an_instances_folder_and_files_are_root_and_qemus_only(
    drv: ComputeDriver, boot_image: Image
) -> None:
    inst = drv.spawn("private", boot_image, FLAVOR)
    folder = drv.instances_dir / inst.uuid
    assert (_mode(folder), _owner(folder)) == (0o750, (0, QEMU_GID))
    assert sorted(p.name for p in folder.iterdir()) == [
        "console.log",
        "disk.qcow2",
        "initrd",
        "kernel",
    ]
    for file in folder.iterdir():
        assert (_mode(file), _owner(file)) == (0o600, (0, 0)), file
    assert _mode(drv.instances_dir) == 0o711
    assert _mode(drv.config.data_dir) == 0o711  # created by zcompute


def test_a_guest_boots_its_own_copy_of_the_kernel_never_the_shared_one(
    drv: ComputeDriver, boot_image: Image
) -> None:
    """libvirt gives a guest's kernel and initrd to the QEMU user while it runs."""
    inst = drv.spawn("copies", boot_image, FLAVOR)
    dom = Domain.from_xml(drv.domain_xml(inst.uuid))
    folder = drv.instances_dir / inst.uuid
    assert (dom.os.kernel, dom.os.initrd) == (str(folder / "kernel"), str(folder / "initrd"))
    assert boot_image.kernel_path is not None
    assert (folder / "kernel").read_bytes() == boot_image.kernel_path.read_bytes()
    assert not (folder / "kernel").samefile(boot_image.kernel_path)


def test_a_shared_base_is_never_relabelled_and_only_qemus_group_reads_it(
    drv: ComputeDriver, disk_image: Image
) -> None:
    inst = drv.spawn("overlay", disk_image, FLAVOR)
    (root,) = Domain.from_xml(drv.domain_xml(inst.uuid)).devices.disks
    layer = root.backing_store
    assert layer is not None
    assert (layer.source_file, layer.format) == (str(disk_image.path), "raw")
    assert layer.dac_relabel is False  # <seclabel model='dac' relabel='no'/>
    assert disk_image.path is not None
    assert (_mode(disk_image.path), _owner(disk_image.path)) == (0o440, (0, QEMU_GID))
    assert (_mode(disk_image.path.parent), _owner(disk_image.path.parent)) == (0o750, (0, QEMU_GID))


def test_a_hard_reboot_takes_back_what_qemu_widened_and_replaces_a_planted_log_link(
    drv: ComputeDriver, disk_image: Image, tmp_path: Path
) -> None:
    inst = drv.spawn("reboot", disk_image, FLAVOR)
    folder = drv.instances_dir / inst.uuid
    victim = tmp_path / "victim"
    victim.write_text("host secret\n")
    # what a compromised QEMU (owner of its disk while running) or an older zcompute left
    os.chmod(folder / "disk.qcow2", 0o666)
    os.chmod(folder, 0o755)
    (folder / "console.log").unlink()
    (folder / "console.log").symlink_to(victim)
    assert disk_image.path is not None
    os.chmod(disk_image.path, 0o644)
    drv.reboot(inst.name, hard=True)
    assert (_mode(folder), _mode(folder / "disk.qcow2"), _mode(disk_image.path)) == (
        0o750,
        0o600,
        0o440,
    )
    assert not (folder / "console.log").is_symlink()
    assert victim.read_text() == "host secret\n"


def test_a_start_never_lets_libvirt_open_a_log_link(
    drv: ComputeDriver, boot_image: Image, tmp_path: Path
) -> None:
    inst = drv.spawn("start", boot_image, FLAVOR)
    drv.power_off(inst.name, timeout=0)
    log = drv.console_log_path(inst.name)
    victim = tmp_path / "victim"
    victim.write_text("host secret\n")
    log.unlink()
    log.symlink_to(victim)
    drv.power_on(inst.name)
    assert not log.is_symlink()
    assert _mode(log) == 0o600
    assert victim.read_text() == "host secret\n"


def test_a_disk_planted_as_a_link_stops_the_start_before_libvirt_chowns_its_target(
    drv: ComputeDriver, boot_image: Image, tmp_path: Path
) -> None:
    inst = drv.spawn("disk-link", boot_image, FLAVOR)
    drv.power_off(inst.name, timeout=0)
    disk = drv.root_disk_path(inst.uuid)
    victim = tmp_path / "victim"
    victim.write_text("host secret\n")
    os.chmod(victim, 0o640)
    disk.unlink()
    disk.symlink_to(victim)
    with pytest.raises(HostFileError, match="symbolic link"):
        drv.power_on(inst.name)
    assert (_mode(victim), _owner(victim)) == (0o640, (0, 0))
    assert drv.get_info(inst.name).state == "shutoff"


def test_links_planted_in_an_instance_folder_are_not_followed_on_delete(
    drv: ComputeDriver, boot_image: Image, tmp_path: Path
) -> None:
    inst = drv.spawn("planted", boot_image, FLAVOR)
    folder = drv.instances_dir / inst.uuid
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    (folder / "disk.qcow2").unlink()
    (folder / "disk.qcow2").symlink_to(outside / "keep")
    (folder / "dir").symlink_to(outside)
    assert drv.destroy(inst.name)
    assert not os.path.lexists(folder)
    assert (outside / "keep").read_text() == "x"


def test_an_instance_folder_replaced_by_a_link_is_refused_before_the_guest_starts(
    drv: ComputeDriver, boot_image: Image, tmp_path: Path
) -> None:
    inst = drv.spawn("swapped", boot_image, FLAVOR)
    drv.power_off(inst.name, timeout=0)
    folder = drv.instances_dir / inst.uuid
    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere)
    os.chmod(elsewhere, 0o700)
    with pytest.raises(HostFileError, match="symbolic link"):
        drv.reboot(inst.name, hard=True)
    assert _mode(elsewhere) == 0o700  # not opened up to QEMU's group through the link
    drv.destroy(inst.name)
    assert (elsewhere / "kernel").exists()  # never removed through the link


def test_qemu_that_cannot_reach_the_data_directory_is_told_before_libvirt_tries(
    drv: ComputeDriver, boot_image: Image
) -> None:
    drv._ctx.qemu_user = (QemuIds(65534, 65534, (65534,)),)  # tmp_path's parents are root's 0700
    with pytest.raises(HostFileError, match=r"QEMU \(uid 65534, gid 65534\) cannot enter /"):
        drv.spawn("unreachable", boot_image, FLAVOR)
    assert drv.db.list_instances() == []
    assert list(drv.instances_dir.iterdir()) == []


# -- --data-dir ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o700, 0o750, 0o755])
def test_an_existing_data_directory_is_never_widened(tmp_path: Path, mode: int) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, mode)
    drv = ComputeDriver(Config(uri="test:///default", virt_type="qemu", data_dir=data))
    drv.close()
    assert _mode(data) == mode
    assert _mode(data / "instances") == _mode(data / "images") == 0o711


def test_an_older_zcomputes_folders_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for sub in ("images", "instances"):
        (data / sub).mkdir(parents=True)
        os.chmod(data / sub, 0o755)
    ComputeDriver(Config(uri="test:///default", virt_type="qemu", data_dir=data)).close()
    assert _mode(data / "images") == _mode(data / "instances") == 0o711


@pytest.mark.parametrize(
    ("mode", "owner", "why"),
    [
        (0o777, 0, "every user can write"),
        (0o1777, 0, "every user can write"),
        (0o775, QEMU_GID, f"group {QEMU_GID} can write"),
    ],
)
def test_a_data_directory_others_can_write_is_refused(
    tmp_path: Path, mode: int, owner: int, why: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 0, owner)
    os.chmod(data, mode)
    with pytest.raises(ConfigError, match=f"^data_dir: {data}: {why}.*plant links"):
        ComputeDriver(Config(uri="test:///default", virt_type="qemu", data_dir=data))
    assert list(data.iterdir()) == []  # refused before anything was made in it


def test_a_data_directory_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chown(data, 65534, 65534)
    with pytest.raises(ConfigError, match="owned by uid 65534"):
        ComputeDriver(Config(uri="test:///default", virt_type="qemu", data_dir=data))


def test_the_data_directory_may_be_a_link_its_folders_may_not(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o750)
    data = tmp_path / "data"
    data.symlink_to(real)
    ComputeDriver(Config(uri="test:///default", virt_type="qemu", data_dir=data)).close()
    assert (real / "instances").is_dir()
    other = tmp_path / "other"
    (other / "instances").mkdir(parents=True, mode=0o700)
    (tmp_path / "planted").mkdir()
    (other / "images").symlink_to(tmp_path / "planted")
    with pytest.raises(HostFileError, match="found a symbolic link"):
        ComputeDriver(Config(uri="test:///default", virt_type="qemu", data_dir=other))
