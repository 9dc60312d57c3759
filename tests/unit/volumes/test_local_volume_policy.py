"""The local volume policy: which host paths may become a guest's disk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from zcompute.errors import InvalidInput
from zcompute.volumes import VolumePolicy, parse_volume_dirs


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    volumes, data = tmp_path / "volumes", tmp_path / "data"
    volumes.mkdir()
    data.mkdir()
    return volumes, data


def _policy(volumes: Path, data: Path, root: Path | None = None) -> VolumePolicy:
    if root is None:
        return VolumePolicy((volumes,), data)
    return VolumePolicy((volumes,), data, proc=root / "proc", sys=root / "sys")


def _file(path: Path) -> Path:
    path.write_bytes(b"\0" * 4096)
    return path


def test_a_file_in_a_volume_directory_is_allowed_by_its_real_path(
    dirs: tuple[Path, Path],
) -> None:
    volumes, data = dirs
    disk = _file(volumes / "disk.img")
    link = volumes / "link.img"
    link.symlink_to(disk)
    checked = _policy(volumes, data).check(link)
    assert (checked.path, checked.is_block) == (disk, False)  # the link is resolved once


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("/etc/shadow", "is in a host system directory"),
        ("/etc/passwd", "is in a host system directory"),
        ("DATA/state.db", "is inside zcompute's data directory"),
        ("DATA/instances/x/console.log", "is inside zcompute's data directory"),
        ("ELSEWHERE/disk.img", "is outside the volume directories"),
    ],
)
def test_host_files_and_zcompute_files_are_refused_also_through_a_link(
    dirs: tuple[Path, Path], tmp_path: Path, target: str, why: str
) -> None:
    volumes, data = dirs
    real = Path(target.replace("DATA", str(data)).replace("ELSEWHERE", str(tmp_path / "else")))
    if not real.exists():
        real.parent.mkdir(parents=True, exist_ok=True)
        _file(real)
    policy = _policy(volumes, data)
    with pytest.raises(InvalidInput, match=why):
        policy.check(real)
    planted = volumes / "innocent.img"  # a link planted where volumes may live
    planted.symlink_to(real)
    with pytest.raises(InvalidInput, match=f"really {real}"):
        policy.check(planted)


def test_a_file_with_another_hard_link_is_refused(dirs: tuple[Path, Path]) -> None:
    volumes, data = dirs
    disk = _file(volumes / "disk.img")
    os.link(disk, volumes / "other-name.img")
    with pytest.raises(InvalidInput, match="2 hard links"):
        _policy(volumes, data).check(disk)


def test_special_files_never_reach_qemu(dirs: tuple[Path, Path]) -> None:
    volumes, data = dirs
    fifo = volumes / "fifo"
    os.mkfifo(fifo)
    policy = _policy(volumes, data)
    for path, kind in ((volumes, "directory"), (fifo, "FIFO"), (Path("/dev/null"), "character")):
        with pytest.raises(InvalidInput, match=f"is a {kind}"):
            policy.check(path)
    with pytest.raises(InvalidInput, match="does not exist"):
        policy.check(volumes / "missing.img")
    with pytest.raises(InvalidInput, match="not an absolute path"):
        policy.check("relative.img")


def _block_node(path: Path, major: int, minor: int) -> Path:
    os.mknod(path, stat.S_IFBLK | 0o600, os.makedev(major, minor))
    return path


def _host(root: Path, *, mounted: str = "", swap: str = "", holder: str = "") -> None:
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "self" / "mountinfo").write_text(
        f"25 1 {mounted or '8:1'} / / rw - ext4 /dev/sda1 rw\n"
    )
    (root / "proc" / "swaps").write_text(
        "Filename Type Size Used Priority\n" + (f"{swap} partition 1024 0 -2\n" if swap else "")
    )
    node = root / "sys" / "dev" / "block" / "7:200"
    (node / "holders").mkdir(parents=True)
    part = node / "loop200p1"
    part.mkdir()
    (part / "partition").write_text("1\n")
    (part / "dev").write_text("259:7\n")
    if holder:
        (node / "holders" / holder).mkdir()


def test_an_unused_block_device_is_allowed(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    volumes, data = dirs
    _host(tmp_path)
    device = _block_node(tmp_path / "loop200", 7, 200)
    checked = _policy(volumes, data, tmp_path).check(device)
    assert checked.is_block


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"mounted": "7:200"}, "is mounted on the host"),
        ({"mounted": "259:7"}, "is mounted on the host"),  # one of its partitions is
        ({"holder": "dm-3"}, "is held by dm-3"),
    ],
)
def test_a_block_device_in_use_on_the_host_is_refused(
    dirs: tuple[Path, Path], tmp_path: Path, kwargs: dict[str, str], why: str
) -> None:
    volumes, data = dirs
    _host(tmp_path, **kwargs)
    device = _block_node(tmp_path / "loop200", 7, 200)
    with pytest.raises(InvalidInput, match=why):
        _policy(volumes, data, tmp_path).check(device)


def test_a_swap_device_is_refused(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    volumes, data = dirs
    device = _block_node(tmp_path / "loop200", 7, 200)
    _host(tmp_path, swap=str(device))
    with pytest.raises(InvalidInput, match="used as swap"):
        _policy(volumes, data, tmp_path).check(device)


def test_volume_dirs_are_absolute_paths() -> None:
    assert parse_volume_dirs("/srv, /data:/mnt/vols") == (
        Path("/srv"), Path("/data"), Path("/mnt/vols"))  # fmt: skip
    with pytest.raises(InvalidInput, match="volume_dirs"):
        parse_volume_dirs("/srv,relative")
