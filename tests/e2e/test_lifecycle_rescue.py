"""Rescue and unrescue on real guests: what the guest sees while rescued, and after.

The test guest boots a kernel and initrd; its root disk (``vda``, the flavor's 1 GiB) is blank.
A marker is written onto it raw. Rescued (from its own kernel-boot image), the guest boots
with two disks: the rescue disk first (serial ``zcompute-rescue``) and its root disk second,
which still holds the marker; unrescued, it has its one root disk again, marker and all.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import InvalidInput, InvalidState
from zcompute.model import BlockDeviceSpec
from zcompute.plan import RESCUE_DISK, RESCUE_SERIAL

from .conftest import TINY, imported_test_image
from .lifecycle_support import BOOTED, LogWatch, open_shell, run, timed

ROOT_SECTORS = TINY.root_gib << 21  # 512-byte sectors of the flavor's root disk


def _boot_report(log: LogWatch) -> dict[str, str]:
    """The disks a boot reports (name -> "sectors=... serial=..."), up to its end."""
    log.wait(r"ZCOMPUTE-GUEST-READY", timeout=120)
    disks = {}
    while True:
        line = log.wait(r"ZCOMPUTE-BLOCK name=|ZCOMPUTE-DEVICES-END")
        if "ZCOMPUTE-DEVICES-END" in line:
            return disks
        words = dict(w.split("=", 1) for w in line.split() if "=" in w)
        disks[words["name"]] = f"sectors={words['sectors']} serial={words['serial']}"


def _read_marker(driver: ComputeDriver, name: str, device: str) -> str:
    with open_shell(driver, name) as shell:
        return run(shell, f"head -c 40 /dev/{device} | head -n 1")


@pytest.mark.feature("rescue")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_rescue_boots_the_rescue_image_with_the_root_disk_second(
    driver: ComputeDriver, arch: str, guest_name: str
) -> None:
    name = guest_name
    image = imported_test_image(driver, arch)
    inst = driver.spawn(name, image, TINY.name, wait_for=BOOTED)
    folder = driver.instances_dir / inst.uuid
    marker = f"ZC-ROOT-{secrets.token_hex(6)}"
    with open_shell(driver, name) as shell:
        run(shell, f"echo {marker} > /dev/vda; sync")
    root = f"sectors={ROOT_SECTORS} serial=none"
    log_path = driver.console_log_path(name)
    with LogWatch(log_path) as log:
        with timed(arch, "rescue (until the guest reports its disks)"):
            rescued = driver.rescue(name)
            disks = _boot_report(log)
        assert rescued.rescue is not None
        assert rescued.rescue.image.name == image
        assert disks == {"vda": f"sectors={ROOT_SECTORS} serial={RESCUE_SERIAL}", "vdb": root}
        assert _read_marker(driver, name, "vdb") == marker  # its own root disk, untouched
        assert (folder / RESCUE_DISK).is_file()
        assert driver.console_log_path(name) == log_path  # the same console log goes on

        # what makes no sense while rescued is refused, changing nothing
        with pytest.raises(InvalidState, match="rescued"):
            driver.snapshot(name, f"{name}-snap")
        with pytest.raises(InvalidState, match="rescued"):
            driver.attach_volume(name, BlockDeviceSpec(source=folder / "x.img", target="vdc"))
        with pytest.raises(InvalidState, match="rescued"):
            driver.rescue(name)

        # power off and on boot the rescue definition again
        driver.power_off(name, timeout=0)
        log.mark()
        driver.power_on(name)
        assert _boot_report(log) == disks

        with timed(arch, "unrescue (until the guest reports its disks)"):
            back = driver.unrescue(name)
            disks = _boot_report(log)
        assert back.rescue is None
        assert disks == {"vda": root}
        assert _read_marker(driver, name, "vda") == marker
        assert not (folder / RESCUE_DISK).exists()
        with pytest.raises(InvalidState, match="not rescued"):
            driver.unrescue(name)


@pytest.mark.feature("rescue")
@pytest.mark.parametrize("arch", ["x86_64"])
def test_a_rescued_guest_is_destroyed_with_its_rescue_disk(
    driver: ComputeDriver, arch: str, guest_name: str
) -> None:
    name = guest_name
    other = "s390x" if arch == "x86_64" else "x86_64"
    inst = driver.spawn(name, imported_test_image(driver, arch), TINY.name, wait_for=BOOTED)
    wrong = driver.images.get(imported_test_image(driver, other))
    with pytest.raises(InvalidInput, match="rescue_image"):
        driver.rescue(name, wrong)
    assert driver.get_instance(name).rescue is None
    driver.rescue(name)
    folder: Path = driver.instances_dir / inst.uuid
    assert (folder / RESCUE_DISK).is_file()
    assert driver.destroy(name)
    assert not folder.exists()
    assert not driver.domains.exists(inst.uuid)
