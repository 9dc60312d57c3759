"""Snapshots of a real guest's root disk, running, paused and stopped; a new guest boots one.

The guest writes a different marker onto its root disk (``/dev/vda``) before each snapshot;
each image must hold exactly the marker of its moment, and a guest spawned from the live
snapshot boots (with the kernel its ``kernel_id`` names) and reads that marker back.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from zcompute.driver import ComputeDriver
from zcompute.images import GIB
from zcompute.model import Image
from zcompute.virt import ConsoleStream

from .conftest import TINY, imported_test_image
from .lifecycle_support import BOOTED, open_shell, run, timed


def _write_marker(shell: ConsoleStream, marker: str) -> None:
    run(shell, f"printf '{marker}' | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null")


def _marker_in(image: Image, scratch: Path) -> bytes:
    """The first bytes of the image's disk, read on the host."""
    assert image.path is not None
    out = scratch / f"{image.name}.raw"
    subprocess.run(
        ["qemu-img", "dd", "-f", "qcow2", "-O", "raw", "bs=512", "count=1",
         f"if={image.path}", f"of={out}"],
        check=True,
    )  # fmt: skip
    return out.read_bytes().rstrip(b"\0")


@pytest.mark.feature("snapshot")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_snapshots_hold_the_disk_of_their_moment_and_boot(
    driver: ComputeDriver, arch: str, guest_name: str, guest_dir: Path
) -> None:
    kernel_image = imported_test_image(driver, arch)
    driver.spawn(guest_name, kernel_image, TINY.name, wait_for=BOOTED)
    with open_shell(driver, guest_name) as shell:
        _write_marker(shell, "zc-live-mark")
        with timed(arch, "snapshot of a running guest (block copy)"):
            live = driver.snapshot(guest_name, f"{guest_name}-live")
        _write_marker(shell, "zc-paused-mark")
        driver.pause(guest_name)
        with timed(arch, "snapshot of a paused guest (block copy)"):
            paused = driver.snapshot(guest_name, f"{guest_name}-paused")
        driver.unpause(guest_name)
        _write_marker(shell, "zc-stopped-mark")
    driver.power_off(guest_name, timeout=60)
    with timed(arch, "snapshot of a stopped guest"):
        stopped = driver.snapshot(guest_name, f"{guest_name}-stopped")

    assert _marker_in(live, guest_dir) == b"zc-live-mark"
    assert _marker_in(paused, guest_dir) == b"zc-paused-mark"
    assert _marker_in(stopped, guest_dir) == b"zc-stopped-mark"
    source = driver.images.get(kernel_image)
    for image in (live, paused, stopped):
        assert (image.arch, image.disk_format, image.virtual_size) == (arch, "qcow2", GIB)
        assert image.prop("kernel_id") == source.id
    leftovers = [p.name for p in driver.root_disk_path(driver.get_instance(guest_name).uuid)
                 .parent.iterdir() if p.name.startswith(".snapshot-")]  # fmt: skip
    assert leftovers == []  # the block copies are gone

    second = f"{guest_name}-b"
    with timed(arch, "spawn from a snapshot (to boot report)"):
        driver.spawn(second, live.name, TINY.name, wait_for=BOOTED)
    with open_shell(driver, second) as shell:
        seen = run(shell, "dd if=/dev/vda bs=512 count=1 2>/dev/null | tr -d '\\000' | tr a-z A-Z")
    assert seen == "ZC-LIVE-MARK"
