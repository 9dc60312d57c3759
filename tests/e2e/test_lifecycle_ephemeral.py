"""A flavor's ephemeral and swap disks on a real guest: made at spawn, seen, kept, removed.

The guest's init reports every disk at boot (``ZCOMPUTE-BLOCK name=vdb sectors=...``); on the
host the files are raw, sparse, root's only (0600), the ephemeral one ext4 labelled
``ephemeral0`` and the swap one with a swap signature labelled ``swap0``, as Nova makes them.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

from zcompute.driver import ComputeDriver
from zcompute.model import Flavor

from .conftest import TEST_PREFIX, imported_test_image
from .lifecycle_support import BOOTED, LogWatch, timed

GIB, MIB, SECTOR = 1 << 30, 1 << 20, 512
SCRATCH = Flavor(f"{TEST_PREFIX}scratch", 1, 256, 1, ephemeral_gib=1, swap_mib=64)


ROOT = GIB // SECTOR  # the flavor's 1 GiB root disk


def _sectors(log: str) -> list[int]:
    """The sizes of the disks a boot report lists, in sectors, smallest first."""
    return sorted(int(n) for n in re.findall(r"ZCOMPUTE-BLOCK name=vd\w+ sectors=(\d+)", log))


def _blkid(path: Path) -> dict[str, str]:
    """What blkid reads in a file's content (``-p``: the file itself, never its cache)."""
    done = subprocess.run(
        ["blkid", "-p", "-o", "export", str(path)], capture_output=True, text=True, check=False
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def test_ephemeral_and_swap_disks_on_a_real_guest(driver: ComputeDriver, guest_name: str) -> None:
    name, arch = guest_name, "s390x"
    image = imported_test_image(driver, arch)
    with timed(arch, "spawn with ephemeral and swap disks"):
        inst = driver.spawn(name, image, SCRATCH, wait_for=BOOTED)
    folder = driver.instances_dir / inst.uuid
    ephemeral, swap = folder / "disk.eph0", folder / "disk.swap"
    log = driver.console_log_path(name).read_text(errors="replace")
    # the guest's kernel names disks in probe order, not by target: their sizes tell them apart
    assert _sectors(log) == sorted([ROOT, GIB // SECTOR, 64 * MIB // SECTOR]), log

    assert (ephemeral.stat().st_size, swap.stat().st_size) == (GIB, 64 * MIB)
    assert ephemeral.stat().st_blocks * SECTOR < 128 * MIB  # sparse: only ext4's metadata
    for path in (ephemeral, swap):
        mode = path.lstat().st_mode
        assert stat.S_ISREG(mode)
        assert stat.S_IMODE(mode) & 0o077 == 0, oct(mode)  # root's and the guest's QEMU's only
    assert {k: v for k, v in _blkid(ephemeral).items() if k in ("TYPE", "LABEL")} == {
        "TYPE": "ext4",
        "LABEL": "ephemeral0",
    }
    assert {k: v for k, v in _blkid(swap).items() if k in ("TYPE", "LABEL")} == {
        "TYPE": "swap",
        "LABEL": "swap0",
    }

    # a hard reboot plans the guest again from its record: the same disks, not made again
    with LogWatch(driver.console_log_path(name)) as watch:
        watch.mark()
        driver.reboot(name, hard=True)
        watch.wait(BOOTED, timeout=120)
    log = driver.console_log_path(name).read_text(errors="replace")
    last_report = log.rpartition(BOOTED)[0].rpartition(BOOTED)[2]
    assert _sectors(last_report) == sorted([ROOT, GIB // SECTOR, 64 * MIB // SECTOR]), log
    assert _blkid(ephemeral).get("LABEL") == "ephemeral0"  # the guest's disk, not remade

    assert driver.destroy(name)
    assert not os.path.lexists(ephemeral)
    assert not os.path.lexists(swap)
    assert not os.path.lexists(folder)
