"""A full data directory does not lock the operator out (hardening class 5).

The data directory lives on a small tmpfs of its own; a guest runs from it; then a filler file
takes every free byte. Reading commands still answer, the commands that free space succeed,
commands that would add data say the file system is full, and nothing half-made is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.state import RESERVE_BYTES
from zcompute.virt import Hypervisor

from .conftest import DATA_DIR, RUN_ID, TEST_PREFIX, TINY, imported_test_image
from .lifecycle_support import BOOTED

ZCOMPUTE = str(Path(sys.executable).with_name("zcompute"))


@pytest.fixture
def small_fs(hypervisor: Hypervisor) -> Iterator[Path]:
    mount = DATA_DIR / "tests" / f"full-{RUN_ID}-{uuidlib.uuid4().hex[:6]}"
    mount.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m,mode=0711", "tmpfs", str(mount)],
                   check=True)  # fmt: skip
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def _zc(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZCOMPUTE_")}
    env |= {"ZCOMPUTE_VIRT_TYPE": "qemu", "ZCOMPUTE_CONFIG": str(data / "absent.toml")}
    return subprocess.run([ZCOMPUTE, "--data-dir", str(data), *args], env=env,
                          capture_output=True, text=True, timeout=180)  # fmt: skip


def _fill(fs: Path) -> Path:
    filler = fs / "filler"
    with filler.open("wb") as handle:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError:
            pass
    assert os.statvfs(fs).f_bavail * os.statvfs(fs).f_frsize < RESERVE_BYTES
    return filler


def test_a_full_data_directory_still_reads_and_frees_space(small_fs: Path, tmp_path: Path) -> None:
    data = small_fs / "zc"
    driver = ComputeDriver(Config(virt_type="qemu", data_dir=data))
    driver.db.add_flavor(TINY)
    image = imported_test_image(driver, "s390x")
    driver.close()  # makes the reserve
    guest = f"{TEST_PREFIX}{RUN_ID}-full-{uuidlib.uuid4().hex[:6]}"
    booted = _zc(data, "boot", guest, "--image", image, "--flavor", TINY.name,
                 "--wait-console", BOOTED)  # fmt: skip
    assert booted.returncode == 0, booted.stderr
    assert (data / ".space-reserve").exists()
    filler = _fill(small_fs)
    try:
        for read in (["list"], ["show", guest], ["image", "list"], ["flavor", "list"],
                     ["console-log", guest, "--tail", "5"]):  # fmt: skip
            done = _zc(data, *read)
            assert done.returncode == 0, (read, done.stderr)
        assert guest in _zc(data, "list", "--json").stdout
        disk = tmp_path / "more.img"
        disk.write_bytes(b"\0" * (1 << 20))
        refused = _zc(data, "image", "import", "more", str(disk), "--arch", "s390x")
        assert refused.returncode == 1
        assert "is full" in refused.stderr, refused.stderr
        again = _zc(data, "boot", f"{guest}-2", "--image", image, "--flavor", TINY.name)
        assert again.returncode == 1
        assert "is full" in again.stderr, again.stderr
        assert "Traceback" not in again.stderr
        deleted = _zc(data, "delete", guest)  # frees space although the disk is full
        assert deleted.returncode == 0, deleted.stderr
        gone = _zc(data, "image", "delete", image)
        assert gone.returncode == 0, gone.stderr
        assert _zc(data, "list", "--json").stdout.strip() == "[]"
    finally:
        filler.unlink()
    assert _zc(data, "list").returncode == 0
    assert (data / ".space-reserve").exists()  # made again once there was room
    leftovers = [p.name for p in (data / "images").iterdir()]
    assert leftovers == []
    assert list((data / "instances").iterdir()) == []
