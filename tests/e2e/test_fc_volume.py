"""Fibre Channel end to end: a SAN LUN on an emulated IBM Z LPAR reaches a real s390x guest.

The LPAR's sysfs and /dev/disk/by-path live in a temporary tree (real files and symlinks,
the layout of a real z16 LPAR), with a thread playing kernel and udev: it answers the zfcp
``unit_add`` writes by creating the SCSI disk and its by-path links. The disk itself is a real
loop device, so the driver hands QEMU a real block device and the guest really sees it. What
needs FCP channel hardware (real zfcp timing and errors) is not exercised here. An x86_64
host's PCI HBAs (SCSI host scans) are emulated the same way, for the swap onto another LUN.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import TINY, imported_test_image
from tests.e2e.lifecycle_support import open_shell, run, timed
from tests.unit.volumes.fc_host_tree import KernelSim, s390x_lpar, wait_for, x86_host
from zcompute.driver import ComputeDriver
from zcompute.errors import Conflict
from zcompute.testimage import DEVICES_END

TARGET = "500507680b2155f8"
FCP_LUN = "0x0002000000000000"  # target_lun 2
FCP_LUN3 = "0x0003000000000000"  # target_lun 3
X86_TARGET = "50060e8007e0a520"
VOLUME = "5f1c6a1e-0d8f-4b43-9d55-6f0d3b0c2a11"
VOLUME3 = "8a2d4c6e-1f3b-4d5a-9e7c-0b1a2c3d4e5f"
ZFCP = "/sys/bus/ccw/drivers/zfcp"
FAST = {"timeout": 10.0, "poll_interval": 0.05, "rescan_interval": 0.5}


@pytest.fixture
def loop_device(guest_dir: Path) -> Iterator[Path]:
    backing = guest_dir / "lun.img"
    with backing.open("wb") as handle:
        handle.truncate(64 << 20)
    device = subprocess.run(
        ["losetup", "--find", "--show", str(backing)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield Path(device)
    finally:
        subprocess.run(["losetup", "--detach", device], check=False)


def _wait_for(log: Path, needle: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if needle in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not seen by the guest; log ends with {text[-1500:]}")


@pytest.mark.feature("attach-volume-fc", arch="s390x")
def test_fc_lun_attached_to_s390x_guest_and_removed_again(
    driver: ComputeDriver, guest_name: str, loop_device: Path, tmp_path: Path
) -> None:
    lpar = s390x_lpar(tmp_path / "lpar", targets={TARGET: {FCP_LUN}})
    info = {
        "driver_volume_type": "fibre_channel",
        "serial": VOLUME,
        "data": {"target_wwn": TARGET, "target_lun": 2},
    }
    with KernelSim(lpar, device_target=loop_device) as sim:
        inst = driver.spawn(
            guest_name, imported_test_image(driver, "s390x"), TINY.name, wait_for=DEVICES_END
        )
        try:
            spec = driver.attach_fc_volume(
                inst.name, info, root=lpar.root, host_arch="s390x", connector_options=FAST
            )
            assert spec.source == loop_device  # the by-path link resolved to the real disk
            assert spec.serial == VOLUME[:20]  # virtio-blk serials hold 20 bytes
            # zfcp units were added on both online FCP devices, none on the Linkdown one
            for devno in ("0.0.8000", "0.0.8100"):
                assert sim.values_written(f"{ZFCP}/{devno}/0x{TARGET}/unit_add") == [FCP_LUN]
            assert not any("0.0.8200" in path for path, _ in sim.writes)

            log = driver.console_log_path(inst.name)
            # virtio-blk serials are 20 bytes: the guest sees the volume id's first 20
            seen = _wait_for(log, f"ZCOMPUTE-BLOCK added name={spec.target}")
            assert f"serial={VOLUME[:20]}" in seen.split(f"added name={spec.target}")[1]

            driver.detach_volume(inst.name, spec.target)
            _wait_for(log, f"ZCOMPUTE-BLOCK removed name={spec.target}")
            for devno in ("0.0.8000", "0.0.8100"):
                assert sim.values_written(f"{ZFCP}/{devno}/0x{TARGET}/unit_remove") == [FCP_LUN]
            assert driver.db.volume_connections(inst.uuid) == {}
        finally:
            driver.destroy(inst.uuid)


def test_destroy_disconnects_fc_volumes(
    driver: ComputeDriver, guest_name: str, loop_device: Path, tmp_path: Path
) -> None:
    lpar = s390x_lpar(tmp_path / "lpar", targets={TARGET: {FCP_LUN}})
    info = {"serial": VOLUME, "data": {"target_wwn": TARGET, "target_lun": 2}}
    with KernelSim(lpar, device_target=loop_device) as sim:
        inst = driver.spawn(guest_name, imported_test_image(driver, "s390x"), TINY.name)
        driver.attach_fc_volume(
            inst.name, info, root=lpar.root, host_arch="s390x", connector_options=FAST
        )
        assert driver.destroy(inst.uuid)
        assert sim.values_written(f"{ZFCP}/0.0.8000/0x{TARGET}/unit_remove") == [FCP_LUN]


@contextlib.contextmanager
def _loop_devices(directory: Path, count: int, size: int) -> Iterator[list[Path]]:
    """``count`` loop devices over files of ``size`` bytes, detached again afterwards."""
    with contextlib.ExitStack() as stack:
        devices = []
        for index in range(count):
            backing = directory / f"lun{index}.img"
            with backing.open("wb") as handle:
                handle.truncate(size)
            found = subprocess.run(["losetup", "--find", "--show", str(backing)],
                                   capture_output=True, text=True, check=True)  # fmt: skip
            device = found.stdout.strip()
            stack.callback(subprocess.run, ["losetup", "--detach", device], check=False)
            devices.append(Path(device))
        yield devices


def _device_head(device: Path, length: int) -> bytes:
    """The first bytes of a block device, read through it (its page cache is QEMU's view)."""
    with device.open("rb") as handle:
        return handle.read(length)


@pytest.mark.feature("swap-volume", "attach-volume-fc")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_fc_swap_onto_another_lun_disconnects_the_old_one(
    driver: ComputeDriver, arch: str, guest_name: str, guest_dir: Path, tmp_path: Path
) -> None:
    """A swap onto another LUN of the SAN: the host connects it (zfcp units on IBM Z, a SCSI
    scan on PCI), the guest's data moves onto it, and the old LUN is disconnected."""
    if arch == "s390x":
        host = s390x_lpar(tmp_path / "host", targets={TARGET: {FCP_LUN, FCP_LUN3}})
        wwpn = TARGET
    else:
        host = x86_host(tmp_path / "host", targets={X86_TARGET: {"2", "3"}})
        wwpn = X86_TARGET
    old_info = {"serial": VOLUME, "data": {"target_wwn": wwpn, "target_lun": 2}}
    new_info = {"driver_volume_type": "fibre_channel", "serial": VOLUME3,
                "data": {"target_wwn": wwpn, "target_lun": 3}}  # fmt: skip
    fc = {"root": host.root, "host_arch": arch, "connector_options": FAST}
    with (
        _loop_devices(guest_dir, 2, 32 << 20) as (lun2, lun3),
        KernelSim(host, device_target={2: lun2, 3: lun3}) as sim,
    ):
        inst = driver.spawn(guest_name, imported_test_image(driver, arch), TINY.name,
                            wait_for=DEVICES_END)  # fmt: skip
        try:
            spec = driver.attach_fc_volume(inst.name, old_info, **fc)
            assert spec.source == lun2
            with open_shell(driver, inst.name) as shell:
                run(shell, f"echo ZC-FC-BEFORE-SWAP > /dev/{spec.target}; sync")
                with timed(arch, "swap volume onto an FC LUN (connect, copy, pivot, disconnect)"):
                    new = driver.swap_volume_connection(inst.name, spec.target, new_info, **fc)
                assert (new.source, new.target, new.serial) == (lun3, spec.target, VOLUME3[:20])
                assert _device_head(lun3, 17) == b"ZC-FC-BEFORE-SWAP"  # the data moved
                run(shell, f"echo ZC-FC-AFTER-SWAP > /dev/{spec.target}; sync")
                assert _device_head(lun3, 16) == b"ZC-FC-AFTER-SWAP"
            assert _device_head(lun2, 17) == b"ZC-FC-BEFORE-SWAP"  # left as it was
            # the old LUN is gone from the host, the new one is recorded for the volume (the
            # SCSI disks of a PCI host are loop devices here, which the connector cannot
            # delete: the unit tests see it delete them, tests/unit/driver/test_swap_journal.py)
            if arch == "s390x":
                assert [d.scsi_lun for d in host.disks.values()] == [3] * len(host.disks)
                for devno in ("0.0.8000", "0.0.8100"):
                    removed = sim.values_written(f"{ZFCP}/{devno}/0x{TARGET}/unit_remove")
                    assert removed == [FCP_LUN]
            (record,) = driver.db.volume_connections(inst.uuid).values()
            assert record["connection_info"]["serial"] == VOLUME3
            assert driver.db.swap_journals(inst.uuid) == {}
            assert driver.get_instance(inst.name).block_devices == (new,)

            with pytest.raises(Conflict, match=f"volume {VOLUME3} is attached"):
                driver.swap_volume_connection(inst.name, spec.target, new_info, **fc)
            driver.detach_volume(inst.name, spec.target)
            if arch == "s390x":
                wait_for(lambda: host.disks == {}, timeout=10)
            assert driver.db.volume_connections(inst.uuid) == {}
        finally:
            driver.destroy(inst.uuid)
