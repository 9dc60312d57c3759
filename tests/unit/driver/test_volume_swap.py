"""Extend and swap: every bad request is a clear error that changes nothing.

The resize and the block copy need QEMU (tests/e2e/test_volume_swap.py does them on real
guests); here the checks in front of them run against guests of libvirt's test driver, whose
volumes are recorded directly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import InvalidInput, InvalidState, NotFound
from zcompute.model import BlockDeviceSpec, Instance, InstanceState
from zcompute.volumes import DiskSource

from .driver_support import Recorder

MIB = 1 << 20


def _with_volume(
    drv: ComputeDriver, inst: Instance, path: Path, size: int, fmt: str = "raw"
) -> Instance:
    with path.open("wb") as handle:
        handle.truncate(size)
    return drv.db.add_attachment(inst.uuid, BlockDeviceSpec(source=path, target="vdb", format=fmt))


def _unchanged(drv: ComputeDriver, inst: Instance) -> None:
    now = drv.get_instance(inst.uuid)
    assert (now.block_devices, now.task) == (inst.block_devices, None)


@pytest.mark.parametrize("size", [0, -1, True, 1.5, "8"])
def test_extend_refuses_a_size_that_is_no_size(
    test_driver: ComputeDriver, recorded: Recorder, tmp_path: Path, size: object
) -> None:
    inst = _with_volume(test_driver, recorded(InstanceState.SHUTOFF, start=False),
                        tmp_path / "v.img", MIB)  # fmt: skip
    with pytest.raises(InvalidInput, match=r"new_size_bytes: invalid size .*a number of bytes"):
        test_driver.extend_volume(inst.name, "vdb", size)  # type: ignore[arg-type]
    _unchanged(test_driver, inst)


def test_extend_of_a_stopped_guest_records_the_storage_size(
    test_driver: ComputeDriver, recorded: Recorder, tmp_path: Path
) -> None:
    volume = tmp_path / "v.img"
    inst = _with_volume(test_driver, recorded(InstanceState.SHUTOFF, start=False), volume, MIB)
    with volume.open("r+b") as handle:
        handle.truncate(2 * MIB + 100)  # a size that is no whole number of sectors
    spec = test_driver.extend_volume(inst.name, "vdb")
    assert spec.size_bytes == 2 * MIB  # what the guest can address
    assert test_driver.get_instance(inst.name).block_devices == (spec,)
    with pytest.raises(InvalidInput, match=r"less than the 2097152 of vdb: volumes do not shrink"):
        test_driver.extend_volume(inst.name, "vdb", MIB)
    with pytest.raises(InvalidInput, match=r"more than the storage of vdb holds \(2097252\)"):
        test_driver.extend_volume(inst.name, "vdb", 4 * MIB)
    assert test_driver.get_instance(inst.name).block_devices == (spec,)


def test_extend_refuses_qcow2_and_unknown_targets(
    test_driver: ComputeDriver, recorded: Recorder, tmp_path: Path
) -> None:
    inst = recorded(InstanceState.SHUTOFF, start=False)
    with pytest.raises(NotFound, match=r"no volume 'vdb' is attached .* \(attached: none\)"):
        test_driver.extend_volume(inst.name, "vdb")
    inst = _with_volume(test_driver, inst, tmp_path / "q.img", MIB, fmt="qcow2")
    with pytest.raises(InvalidInput, match=r"volume.format: vdb .* is a qcow2 file"):
        test_driver.extend_volume(inst.name, "vdb", 2 * MIB)
    _unchanged(test_driver, inst)


def test_swap_needs_a_running_guest(
    test_driver: ComputeDriver, recorded: Recorder, tmp_path: Path
) -> None:
    inst = _with_volume(test_driver, recorded(InstanceState.SHUTOFF, start=False),
                        tmp_path / "old.img", MIB)  # fmt: skip
    new = tmp_path / "new.img"
    new.write_bytes(b"\0" * MIB)
    with pytest.raises(InvalidState, match="cannot swap a volume of"):
        test_driver.swap_volume(inst.name, "vdb", new)
    _unchanged(test_driver, inst)


@pytest.mark.parametrize(
    ("new", "error", "message"),
    [
        ("/etc/hostname", InvalidInput, "volume: /etc/hostname is in a host system directory"),
        ("{tmp}/missing.img", InvalidInput, "missing.img does not exist"),
        ("{tmp}/old.img", InvalidInput, "new_volume: .*old.img is what vdb uses already"),
        (DiskSource(type="network", path="iqn.x/1", serial="s"), InvalidInput,
         "new_volume.type: 'network' volumes"),
        (BlockDeviceSpec(source=Path("/x.img"), target="vdc"), InvalidInput,
         "new_volume.target: vdc is not vdb"),
    ],
)  # fmt: skip
def test_bad_swap_requests_change_nothing(
    test_driver: ComputeDriver,
    recorded: Recorder,
    tmp_path: Path,
    new: object,
    error: type[Exception],
    message: str,
) -> None:
    inst = _with_volume(test_driver, recorded(), tmp_path / "old.img", MIB)
    if isinstance(new, str):
        new = new.format(tmp=tmp_path)
    with pytest.raises(error, match=message):
        test_driver.swap_volume(inst.name, "vdb", new)  # type: ignore[arg-type]
    _unchanged(test_driver, inst)
    with pytest.raises(NotFound, match="no volume 'vdc' is attached"):
        test_driver.swap_volume(inst.name, "vdc", tmp_path / "old.img")


def test_size_bytes_is_checked_and_recorded(
    test_driver: ComputeDriver, recorded: Recorder, tmp_path: Path
) -> None:
    for bad in (-1, True, "1"):
        with pytest.raises(InvalidInput, match=r"block_device\.size_bytes: invalid size"):
            BlockDeviceSpec(source=Path("/v.img"), target="vdb", size_bytes=bad)  # type: ignore[arg-type]
    inst = _with_volume(test_driver, recorded(), tmp_path / "v.img", MIB)
    grown = dataclasses.replace(inst.block_devices[0], size_bytes=3 * MIB)
    assert test_driver.db.replace_volume(inst.uuid, grown).block_devices == (grown,)
    with pytest.raises(NotFound):
        test_driver.db.replace_volume(inst.uuid, dataclasses.replace(grown, target="vdq"))
