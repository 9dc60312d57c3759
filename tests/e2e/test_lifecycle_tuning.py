"""Disk I/O limits and file-backed memory on real guests: what QEMU does and the guest sees.

Disk limits: a flavor's ``quota:disk_read_bytes_sec`` becomes ``<iotune>`` on the guest's own
disks (the live domain shows QEMU's values), and the guest's ``dd`` of its root disk takes as
long as the limit says; a volume, not the flavor's to limit, reads at full speed.

File-backed memory (``file_backed_memory_mib``): the domain's ``<memoryBacking>`` is a shared
file, and the guest's QEMU maps a file of the guest's memory size under libvirt's memory
backing directory (qemu.conf's ``memory_backing_dir``, by default ``/var/lib/libvirt/qemu/ram``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import NotFound
from zcompute.model import Flavor
from zcompute.xml import Domain

from .conftest import TEST_PREFIX, TINY, imported_test_image, own_driver
from .lifecycle_support import BOOTED, open_shell, qemu_pid, run, timed

MIB = 1 << 20
LIMIT = MIB  # bytes per second
READ = 3 * MIB  # what the guest reads: about 3 s at the limit
LIMITED = Flavor(f"{TEST_PREFIX}limited", 1, 256, 1, {"quota:disk_read_bytes_sec": str(LIMIT)})
MEMORY_BACKING_DIR = Path("/var/lib/libvirt/qemu/ram")  # libvirt's default; this host's too


def _flavor(driver: ComputeDriver, flavor: Flavor) -> str:
    try:
        driver.db.get_flavor(flavor.name)
    except NotFound:
        driver.db.add_flavor(flavor)
    return flavor.name


def _iotunes(driver: ComputeDriver, name: str) -> dict[str, dict[str, int | None]]:
    """The live domain's limits per disk target (what libvirt reads back from QEMU)."""
    live = Domain.from_xml(driver.domain_xml(name))
    out = {}
    for disk in live.devices.disks:
        tune = disk.iotune
        out[disk.target_dev or ""] = {
            "read_bytes_sec": tune.read_bytes_sec,
            "total_bytes_sec": tune.total_bytes_sec,
        }
    return out


def _read_seconds(shell: object, device: str) -> float:
    """Seconds the guest takes to read READ bytes of ``device`` with O_DIRECT (its clock)."""
    blocks = READ // (64 * 1024)
    out = run(
        shell,  # type: ignore[arg-type]
        "a=$(cut -d' ' -f1 /proc/uptime); "
        f"dd if=/dev/{device} of=/dev/null bs=64k count={blocks} iflag=direct 2>/dev/null; "
        "b=$(cut -d' ' -f1 /proc/uptime); echo TOOK $a $b",
        timeout=120,
    )
    match = re.search(r"TOOK ([0-9.]+) ([0-9.]+)", out)
    assert match, out
    return float(match[2]) - float(match[1])


@pytest.mark.feature("disk-rate-limit")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_a_flavor_read_limit_is_what_the_guest_reads_at(
    driver: ComputeDriver, arch: str, guest_name: str, guest_dir: Path
) -> None:
    flavor = _flavor(driver, LIMITED)
    driver.spawn(guest_name, imported_test_image(driver, arch), flavor, wait_for=BOOTED)
    assert _iotunes(driver, guest_name) == {
        "vda": {"read_bytes_sec": LIMIT, "total_bytes_sec": None}
    }
    volume = guest_dir / "volume.img"
    with volume.open("wb") as handle:
        handle.truncate(64 * MIB)
    volume.chmod(0o644)
    spec = driver.attach_volume(guest_name, volume, serial="zcfast")
    assert _iotunes(driver, guest_name)[spec.target]["read_bytes_sec"] is None  # not limited
    with open_shell(driver, guest_name) as shell:
        with timed(arch, f"guest reads {READ >> 20} MiB at {LIMIT >> 20} MiB/s"):
            limited = _read_seconds(shell, "vda")
        free = _read_seconds(shell, spec.target)
    print(f"{arch}: {READ} bytes in {limited:.2f} s limited, {free:.2f} s from the volume")
    # QEMU lets a tenth of a second's worth through at once, then holds reads to the limit
    assert READ / LIMIT - 0.5 <= limited <= 30, limited
    assert free < limited / 2, (free, limited)


# the hypervisor fixture holds this run's lock: other runs' sweeps leave its guests alone
@pytest.mark.usefixtures("hypervisor")
@pytest.mark.feature("file-backed-memory")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_file_backed_memory_is_a_file_the_guest_s_qemu_maps(arch: str, guest_name: str) -> None:
    with own_driver(file_backed_memory_mib=4096) as driver:
        with timed(arch, "spawn with file-backed memory"):
            driver.spawn(guest_name, imported_test_image(driver, arch), TINY.name, wait_for=BOOTED)
        backing = Domain.from_xml(driver.domain_xml(guest_name)).memory_backing
        assert (backing.source_type, backing.access_mode) == ("file", "shared")
        maps = Path(f"/proc/{qemu_pid(guest_name)}/maps").read_text().splitlines()
        files = [line for line in maps if f" {MEMORY_BACKING_DIR}/" in line]
        sizes = {int(end, 16) - int(start, 16) for start, end in _ranges(files)}
        assert TINY.memory_mib * MIB in sizes, files  # the guest's whole RAM is that file
        with open_shell(driver, guest_name) as shell:
            total_kib = int(run(shell, "grep MemTotal /proc/meminfo").split()[1])
        assert 0 < total_kib <= TINY.memory_mib * 1024
        assert driver.destroy(guest_name)


def _ranges(lines: list[str]) -> list[tuple[str, str]]:
    return [tuple(line.split()[0].split("-", 1)) for line in lines]  # type: ignore[misc]
