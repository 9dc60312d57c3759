"""Fibre Channel end to end: a SAN LUN on an emulated IBM Z LPAR reaches a real s390x guest.

The LPAR's sysfs and /dev/disk/by-path live in a temporary tree (real files and symlinks,
the layout of a real z16 LPAR), with a thread playing kernel and udev: it answers the zfcp
``unit_add`` writes by creating the SCSI disk and its by-path links. The disk itself is a real
loop device, so the driver hands QEMU a real block device and the guest really sees it. What
needs FCP channel hardware (real zfcp timing and errors) is not exercised here.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import TINY, imported_test_image
from tests.unit.volumes.fc_host_tree import KernelSim, s390x_lpar
from zcompute.driver import ComputeDriver
from zcompute.testimage import DEVICES_END

TARGET = "500507680b2155f8"
FCP_LUN = "0x0002000000000000"  # target_lun 2
VOLUME = "5f1c6a1e-0d8f-4b43-9d55-6f0d3b0c2a11"
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
