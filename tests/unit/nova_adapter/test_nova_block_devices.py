"""Nova's ephemeral and swap disks: accepted when they are the flavor's, named as the plan names
them (zcompute.nova._driver), with Nova's real objects."""

from __future__ import annotations

from typing import Any

import pytest
from nova import exception, objects

from zcompute.nova._driver import ZComputeDriver, _refuse_disks

FLAVOR = objects.Flavor(name="eph", vcpus=1, memory_mb=512, root_gb=1, ephemeral_gb=1, swap=64)


def _info(ephemerals: list[dict[str, Any]] | None = None, swap: int = 0) -> dict[str, Any]:
    return {
        "root_device_name": "/dev/vda",
        "ephemerals": ephemerals or [],
        "swap": {"swap_size": swap, "device_name": "/dev/vdc"} if swap else None,
        "block_device_mapping": [],
    }


def _ephemeral(size: int, guest_format: str | None = None) -> dict[str, Any]:
    return {"size": size, "device_name": "/dev/vdb", "guest_format": guest_format, "num": 0}


@pytest.mark.parametrize(
    "info",
    [
        None,
        _info(),
        _info([_ephemeral(1)], 64),
        _info([_ephemeral(1, "ext4")]),
        _info(swap=64),
        {**_info(), "block_device_mapping": [{"mount_device": "/dev/vdd", "boot_index": -1}]},
        # a root volume: the spawn boots from it (zcompute.nova._volumes.root_mapping)
        {**_info(), "block_device_mapping": [{"mount_device": "/dev/vda", "boot_index": 0}]},
    ],
)
def test_the_flavor_s_ephemeral_and_swap_disks_are_accepted(info: Any) -> None:
    _refuse_disks(info, FLAVOR)


@pytest.mark.parametrize(
    ("info", "says"),
    [
        (_info([_ephemeral(1), _ephemeral(1)]), "not the ephemeral disks asked for: 1 GB"),
        (_info([_ephemeral(2)]), "ephemeral disk only (1 GB, ext4)"),
        (_info([_ephemeral(1, "vfat")]), "1 GB vfat"),
        (_info(swap=128), "swap disk only (64 MB), not one of 128 MB"),
    ],
)
def test_other_disks_are_refused_saying_what_zcompute_creates(info: Any, says: str) -> None:
    with pytest.raises(exception.InvalidInput, match=says.replace("(", r"\(").replace(")", r"\)")):
        _refuse_disks(info, FLAVOR)


class _Bdm:
    """The fields of Nova's BlockDeviceMapping the naming reads, and its save()."""

    def __init__(self, guest_format: str | None, device_name: str | None = None) -> None:
        self.source_type, self.destination_type = "blank", "local"
        self.guest_format, self.device_name = guest_format, device_name
        self.saved = False

    def save(self) -> None:
        self.saved = True


@pytest.mark.parametrize(
    ("flavor", "names"),
    [
        (FLAVOR, ("/dev/vdb", "/dev/vdc")),
        (objects.Flavor(ephemeral_gb=0, swap=64), (None, "/dev/vdb")),
    ],
)
def test_device_names_follow_the_root_as_the_plan_s(flavor: Any, names: tuple[Any, Any]) -> None:
    ephemeral = [_Bdm(None)] if flavor.ephemeral_gb else []
    swap = [_Bdm("swap", "/dev/vdz")]  # a name Nova proposed is replaced by the plan's
    instance = objects.Instance(flavor=flavor)
    driver = object.__new__(ZComputeDriver)  # the naming uses no state of the driver
    driver.default_device_names_for_instance(instance, "/dev/vda", ephemeral, swap, [])
    assert (ephemeral[0].device_name if ephemeral else None, swap[0].device_name) == names
    assert all(b.saved for b in [*ephemeral, *swap])
