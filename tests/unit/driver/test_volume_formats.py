"""A disk's format is decided once, recorded, and never read from the disk again."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.unit.driver.driver_support import Recorder

from zcompute.arch import get_profile
from zcompute.driver import ComputeDriver
from zcompute.errors import ImageError, InvalidInput
from zcompute.model import BlockDeviceSpec
from zcompute.plan import disk_plan


def _qcow2(path: Path, *options: str) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *options, str(path), "1M"],
                   check=True)  # fmt: skip
    return path


def test_a_raw_volume_stays_raw_after_a_guest_wrote_a_qcow2_header_into_it(
    test_driver: ComputeDriver, recorded: Recorder, tmp_path: Path
) -> None:
    volume = tmp_path / "data.img"
    volume.write_bytes(b"\0" * (1 << 20))
    spec = test_driver.checked_volume(BlockDeviceSpec(volume, "vdb"))
    assert spec.format == "raw"
    inst = recorded()
    test_driver.db.add_attachment(inst.uuid, spec)
    # the guest writes a qcow2 header naming a host file into its raw disk
    evil = _qcow2(tmp_path / "evil.qcow2", "-b", "/etc/shadow", "-F", "raw")
    volume.write_bytes(evil.read_bytes() + b"\0" * (1 << 20))
    # a hard reboot (or any replan) builds the disk from the record, not from the file
    (recorded_spec,) = test_driver.get_instance(inst.uuid).block_devices
    planned = disk_plan(recorded_spec, get_profile("x86_64"))
    assert (planned.target, planned.driver_type) == ("vdb", "raw")


def test_a_volume_naming_a_host_file_is_refused_when_attached(
    test_driver: ComputeDriver, tmp_path: Path
) -> None:
    for name, options, why in (
        ("backing.qcow2", ("-b", "/etc/shadow", "-F", "raw"), "backing file '/etc/shadow'"),
        ("data.qcow2", ("-o", f"data_file={tmp_path / 'ext.raw'}"), "external data file"),
    ):
        with pytest.raises(ImageError, match=why):
            test_driver.checked_volume(BlockDeviceSpec(_qcow2(tmp_path / name, *options), "vdb"))


def test_a_safe_qcow2_volume_is_recorded_as_qcow2_and_a_stated_raw_is_not_read(
    test_driver: ComputeDriver, tmp_path: Path
) -> None:
    volume = _qcow2(tmp_path / "disk.qcow2")
    assert test_driver.checked_volume(BlockDeviceSpec(volume, "vdb")).format == "qcow2"
    stated = test_driver.checked_volume(BlockDeviceSpec(volume, "vdb", format="raw"))
    assert stated.format == "raw"  # the operator said raw: QEMU will interpret nothing
    raw = tmp_path / "raw.img"
    raw.write_bytes(b"\0" * 4096)
    with pytest.raises(ImageError, match="it is a raw image, not qcow2"):
        test_driver.checked_volume(BlockDeviceSpec(raw, "vdb", format="qcow2"))


def test_volumes_outside_the_volume_directories_are_refused_before_anything_is_planned(
    test_driver: ComputeDriver, kernel_image: object
) -> None:
    with pytest.raises(InvalidInput, match="/etc/passwd is in a host system directory"):
        test_driver.checked_volume(BlockDeviceSpec(Path("/etc/passwd"), "vdb"))
    state_db = test_driver.config.data_dir / "state.db"
    with pytest.raises(InvalidInput, match="inside zcompute's data directory"):
        test_driver.checked_volume(BlockDeviceSpec(state_db, "vdb"))
