"""Extend and swap volumes under real running guests, as the guest sees it.

Extend: the operator grows a volume's file (or the file behind a loop device); after
``extend_volume`` the guest's ``/sys/block/vdb/size`` shows the new size on the same device.
Swap: the volume is swapped onto another file (with other content, which the copy overwrites);
the guest reads its data from the same device, without a hot-unplug or hotplug, and what it
writes lands in the new file only; QEMU no longer holds the old file open, and the record and
the persistent definition name the new one.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import Conflict, InvalidInput, InvalidState, NotFound
from zcompute.model import BlockDeviceSpec
from zcompute.virt import ConsoleStream

from .conftest import TINY, imported_test_image
from .lifecycle_support import BOOTED, LogWatch, open_shell, qemu_pid, run, timed
from .test_lifecycle_devices import _disks, _file, _loop_device

MIB = 1 << 20


def _volume(directory: Path, name: str, size: int, content: bytes) -> Path:
    path = _file(directory, name, size)
    with path.open("r+b") as handle:
        handle.write(content)
    return path


def _sectors(shell: ConsoleStream, device: str, wanted: int, timeout: float = 20.0) -> int:
    """The size the guest sees of ``device``, once it is ``wanted`` (or the last one read)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = int(run(shell, f"cat /sys/block/{device}/size"))
        if seen == wanted or time.monotonic() >= deadline:
            return seen
        time.sleep(0.2)


def _reads(shell: ConsoleStream, device: str, length: int) -> str:
    """The first bytes of ``device`` as the guest reads them now (its page cache dropped)."""
    return run(shell, f"echo 3 > /proc/sys/vm/drop_caches; head -c {length} /dev/{device}")


def _open_by_qemu(name: str) -> set[str]:
    fds = Path(f"/proc/{qemu_pid(name)}/fd")
    found = set()
    for fd in fds.iterdir():
        try:
            found.add(os.readlink(fd))
        except OSError:
            continue  # closed meanwhile
    return found


def _block_jobs(name: str, target: str) -> str:
    done = subprocess.run(
        ["virsh", "-c", "qemu:///system", "blockjob", name, target],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.feature("attach-volume")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_extend_a_volume_under_a_running_guest(
    driver: ComputeDriver, arch: str, guest_name: str, guest_dir: Path
) -> None:
    name = guest_name
    driver.spawn(name, imported_test_image(driver, arch), TINY.name, wait_for=BOOTED)
    with LogWatch(driver.console_log_path(name)) as log:
        volume = _file(guest_dir, "grow.img", 64 * MIB)
        driver.attach_volume(name, volume, target="vdb")
        log.wait(r"ZCOMPUTE-BLOCK added name=vdb ")
        with open_shell(driver, name) as shell:
            assert _sectors(shell, "vdb", 131072) == 131072
            os.truncate(volume, 96 * MIB)  # the operator grows the storage
            with timed(arch, "extend volume (file)"):
                spec = driver.extend_volume(name, "vdb")  # the size read from the file
            with timed(arch, "extended volume seen by the guest"):
                assert _sectors(shell, "vdb", 196608) == 196608
            assert spec.size_bytes == 96 * MIB
            assert driver.get_instance(name).block_devices[0].size_bytes == 96 * MIB

            with pytest.raises(InvalidInput, match=r"new_size_bytes.*do not shrink"):
                driver.extend_volume(name, "vdb", 32 * MIB)
            with pytest.raises(InvalidInput, match=r"more than the storage of vdb holds"):
                driver.extend_volume(name, "vdb", 128 * MIB)
            with pytest.raises(NotFound, match="no volume 'vdz'"):
                driver.extend_volume(name, "vdz")
            assert _sectors(shell, "vdb", 196608) == 196608  # a refusal changed nothing

            backing = _file(guest_dir, "loop.img", 32 * MIB)
            with _loop_device(backing) as device:
                driver.attach_volume(name, BlockDeviceSpec(source=device, target="vdc"))
                log.wait(r"ZCOMPUTE-BLOCK added name=vdc ")
                os.truncate(backing, 48 * MIB)
                subprocess.run(["losetup", "--set-capacity", str(device)], check=True)
                with timed(arch, "extend volume (block device)"):
                    driver.extend_volume(name, "vdc")
                assert _sectors(shell, "vdc", 98304) == 98304
                driver.detach_volume(name, "vdc")
        assert driver.get_instance(name).task is None


@pytest.mark.feature("attach-volume", "swap-volume")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_swap_a_volume_under_a_running_guest(
    driver: ComputeDriver, arch: str, guest_name: str, guest_dir: Path
) -> None:
    name = guest_name
    driver.spawn(name, imported_test_image(driver, arch), TINY.name, wait_for=BOOTED)
    with LogWatch(driver.console_log_path(name)) as log:
        old = _volume(guest_dir, "old.img", 16 * MIB, b"ZC-OLD-VOLUME-DATA")
        new = _volume(guest_dir, "new.img", 16 * MIB, b"ZC-NEW-VOLUME-DATA")
        driver.attach_volume(name, old, target="vdb", serial="zcswap")
        log.wait(r"ZCOMPUTE-BLOCK added name=vdb ")
        with open_shell(driver, name) as shell:
            assert _reads(shell, "vdb", 18) == "ZC-OLD-VOLUME-DATA"

            small = _file(guest_dir, "small.img", 8 * MIB)
            with pytest.raises(InvalidInput, match=r"new_volume.*8388608 bytes, vdb 16777216"):
                driver.swap_volume(name, "vdb", small)
            large = _file(guest_dir, "large.img", 24 * MIB)
            with pytest.raises(InvalidInput, match=r"only onto a volume of its size"):
                driver.swap_volume(name, "vdb", large)
            with pytest.raises(InvalidInput, match=r"volume.*in a host system directory"):
                driver.swap_volume(name, "vdb", "/etc/hostname")
            with pytest.raises(InvalidInput, match="is what vdb uses already"):
                driver.swap_volume(name, "vdb", old)

            log.mark()
            with timed(arch, "swap volume (block copy and pivot)"):
                spec = driver.swap_volume(name, "vdb", new)
            # a swap moves the guest's data: the copy overwrote the new volume's old content
            assert new.read_bytes()[:18] == b"ZC-OLD-VOLUME-DATA"
            assert _reads(shell, "vdb", 18) == "ZC-OLD-VOLUME-DATA"
            assert _sectors(shell, "vdb", 32768) == 32768
            run(shell, "echo ZC-WRITTEN-AFTER > /dev/vdb; sync")
            assert _reads(shell, "vdb", 16) == "ZC-WRITTEN-AFTER"
        assert new.read_bytes()[:16] == b"ZC-WRITTEN-AFTER"  # the guest writes the new volume
        assert old.read_bytes()[:18] == b"ZC-OLD-VOLUME-DATA"  # and leaves the old one be
        assert log.lines_since(log.mark(), r"ZCOMPUTE-BLOCK (added|removed)") == []

        assert (spec.source, spec.target, spec.serial) == (new, "vdb", "zcswap")
        assert driver.get_instance(name).block_devices == (spec,)
        assert _disks(driver, name)["vdb"] == str(new)
        assert _disks(driver, name, inactive=True)["vdb"] == str(new)
        held = _open_by_qemu(name)
        assert str(new) in held
        assert str(old) not in held
        assert _block_jobs(name, "vdb") in ("", "No current block job for vdb")

        other = _volume(guest_dir, "other.img", 16 * MIB, b"ZC-OTHER")
        driver.attach_volume(name, other, target="vdc")
        with pytest.raises(Conflict, match="already attached"):
            driver.swap_volume(name, "vdb", other)
        driver.pause(name)  # a paused guest's disk moves too (QEMU copies without its CPUs)
        with timed(arch, "swap volume (paused guest)"):
            back = driver.swap_volume(name, "vdb", old)
        driver.unpause(name)
        assert old.read_bytes()[:16] == b"ZC-WRITTEN-AFTER"
        assert driver.get_instance(name).block_devices[0] == back
        assert _disks(driver, name, inactive=True)["vdb"] == str(old)
        driver.power_off(name, timeout=0)
        with pytest.raises(InvalidState):
            driver.swap_volume(name, "vdb", new)
