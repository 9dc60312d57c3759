"""Resize on real guests: what the guest sees after a resize, a revert and a confirm.

The guest reports its disks and NICs at every boot (``ZCOMPUTE-BLOCK name=vda sectors=...``,
``ZCOMPUTE-NIC name=eth0 mac=...``); its console shell answers ``nproc`` and ``/proc/meminfo``.
A marker written onto the root disk before the resize tells the old content from the new.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import InvalidInput, InvalidState
from zcompute.model import Flavor, NICSpec
from zcompute.virt import ConsoleStream

from .conftest import TEST_PREFIX, imported_test_image
from .lifecycle_support import BOOTED, LogWatch, open_shell, run, timed

GIB, MIB, SECTOR = 1 << 30, 1 << 20, 512
# root, ephemeral and swap sizes all differ, so the guest's disks are told apart by size
SMALL = Flavor(f"{TEST_PREFIX}rs-small", 1, 256, 1, ephemeral_gib=2)
BIG = Flavor(f"{TEST_PREFIX}rs-big", 2, 384, 3, ephemeral_gib=4, swap_mib=32)
SHRUNK = Flavor(f"{TEST_PREFIX}rs-shrunk", 2, 384, 1, ephemeral_gib=4)
MARK_SECTOR = 1_000_000  # on the root disk, far beyond anything the guest writes there
NETWORK = "zcompute-isolated"


@pytest.fixture(scope="module")
def flavors(driver: ComputeDriver) -> Iterator[None]:
    for flavor in (SMALL, BIG, SHRUNK):
        driver.add_flavor(flavor)
    yield
    for flavor in (SMALL, BIG, SHRUNK):
        driver.delete_flavor(flavor.name)


def _booted(watch: LogWatch, position: int) -> tuple[list[int], set[str]]:
    """The disk sizes (sectors, sorted) and NIC MACs of the boot reported after ``position``."""
    watch.wait(BOOTED, timeout=180)
    disks = watch.lines_since(position, r"ZCOMPUTE-BLOCK name=")
    nics = watch.lines_since(position, r"ZCOMPUTE-NIC name=")
    sectors = sorted(int(m) for line in disks for m in re.findall(r"sectors=(\d+)", line))
    macs = {m for line in nics for m in re.findall(r"mac=(\S+)", line)}
    return sectors, macs


def _sizes(flavor: Flavor) -> list[int]:
    disks = [flavor.root_gib * GIB, flavor.ephemeral_gib * GIB, flavor.swap_mib * MIB]
    return sorted(size // SECTOR for size in disks if size)


def _root_device(shell: ConsoleStream, root_sectors: int) -> str:
    """The guest's name of its root disk: the disk of that size (names follow probe order)."""
    found = run(shell, f"grep -l '^{root_sectors}$' /sys/block/vd*/size")
    return "/dev/" + found.strip().split("/")[3]


def _seen(driver: ComputeDriver, name: str, root_sectors: int) -> tuple[int, int, str]:
    """vCPUs, MemTotal (KiB) and the marker on the root disk, as the guest sees them."""
    with open_shell(driver, name) as shell:
        cpus = run(shell, "nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo")
        memory = run(shell, "grep MemTotal /proc/meminfo")
        device = _root_device(shell, root_sectors)
        mark = run(
            shell, f"dd if={device} bs=512 skip={MARK_SECTOR} count=1 2>/dev/null | head -c 7"
        )
    return int(cpus.split()[-1]), int(memory.split()[1]), mark.strip()


def _write_mark(driver: ComputeDriver, name: str, root_sectors: int, text: str) -> None:
    with open_shell(driver, name) as shell:
        device = _root_device(shell, root_sectors)
        run(
            shell,
            f"printf {text} | dd of={device} bs=512 seek={MARK_SECTOR} conv=fsync 2>/dev/null",
        )


@pytest.mark.feature("resize")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_resize_revert_and_confirm_on_a_real_guest(
    driver: ComputeDriver, flavors: None, arch: str, guest_name: str
) -> None:
    name = guest_name
    image = imported_test_image(driver, arch)
    nic = NICSpec(network=NETWORK)
    small_root, big_root = SMALL.root_gib * GIB // SECTOR, BIG.root_gib * GIB // SECTOR
    inst = driver.spawn(name, image, SMALL.name, nics=[nic], wait_for=BOOTED)
    folder = driver.instances_dir / inst.uuid
    mac = driver.get_instance(name).nics[0].mac
    cpus, memory, _mark = _seen(driver, name, small_root)
    assert cpus == 1
    assert memory < 256 * 1024, memory
    _write_mark(driver, name, small_root, "OLDMARK")

    with LogWatch(driver.console_log_path(name)) as watch:
        position = watch.mark()
        with timed(arch, "resize (powered off, disks grown, started)"):
            driver.resize(name, BIG.name)
        with timed(arch, "resized guest booted"):
            sectors, macs = _booted(watch, position)
        assert sectors == _sizes(BIG), sectors
        assert macs == {mac}
        cpus, memory, mark = _seen(driver, name, big_root)
        assert (cpus, mark) == (2, "OLDMARK"), (cpus, mark)
        assert memory > 256 * 1024, memory
        assert driver.get_instance(name).flavor == BIG
        assert driver.pending_resize(name) == SMALL
        assert (folder / "resize-old").is_dir()
        _write_mark(driver, name, big_root, "NEWMARK")

        with pytest.raises(InvalidState, match="confirm or revert first"):
            driver.resize(name, BIG.name)

        position = watch.mark()
        with timed(arch, "revert resize (old disks back, started)"):
            driver.revert_resize(name)
        sectors, macs = _booted(watch, position)
        assert sectors == _sizes(SMALL), sectors
        assert macs == {mac}
        cpus, memory, mark = _seen(driver, name, small_root)
        assert (cpus, mark) == (1, "OLDMARK"), (cpus, mark)
        assert memory < 256 * 1024, memory
        assert driver.get_instance(name).flavor == SMALL
        assert driver.pending_resize(name) is None
        assert sorted(p.name for p in folder.iterdir() if p.name.startswith("resize")) == []
        assert not (folder / "disk.swap").exists()  # the old flavor had none

        position = watch.mark()
        driver.resize(name, BIG.name)
        _booted(watch, position)
        with timed(arch, "confirm resize"):
            driver.confirm_resize(name)
        assert driver.get_info(name).state == "running"
        assert driver.pending_resize(name) is None
        assert [p.name for p in folder.iterdir() if p.name.startswith("resize")] == []
        with pytest.raises(InvalidState, match="no resize to revert"):
            driver.revert_resize(name)
        cpus, _memory, mark = _seen(driver, name, big_root)
        assert (cpus, mark) == (2, "OLDMARK")
        # a smaller root disk is refused, naming the field; the guest runs on untouched
        with pytest.raises(InvalidInput, match=r"flavor\.root_gib.*3 or more"):
            driver.resize(name, SHRUNK.name)
        assert driver.get_info(name).state == "running"
        assert driver.get_instance(name).task is None
    assert driver.destroy(name)
