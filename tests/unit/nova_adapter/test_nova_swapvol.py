"""The volume that Nova's extend and swap name (zcompute.nova._swapvol.volume_source_of).

The translation of every kind of connection_info comes with Nova's volume attach; until then
only volumes Nova already made local are taken, and anything else is refused by name.
"""

from __future__ import annotations

import pytest
from nova import exception

from zcompute.errors import InvalidInput
from zcompute.nova._swapvol import volume_source_of
from zcompute.volumes import DiskSource

VOLUME_ID = "0b1e4c6e-3f5a-4d2b-9c8e-7a6b5c4d3e2f"


@pytest.mark.parametrize("kind", ["local", "fibre_channel"])
def test_a_volume_made_local_is_its_device(kind: str) -> None:
    info = {"driver_volume_type": kind, "serial": VOLUME_ID, "data": {"device_path": "/dev/sdc"}}
    assert volume_source_of(info) == DiskSource(path="/dev/sdc", serial=VOLUME_ID)


@pytest.mark.parametrize(
    "info",
    [
        {"driver_volume_type": "iscsi", "data": {"device_path": "/dev/sdc"}},
        {"driver_volume_type": "fibre_channel", "data": {"target_luns": [1]}},
        {"data": {}},
    ],
)
def test_other_volumes_are_refused_by_kind(info: dict[str, object]) -> None:
    with pytest.raises(exception.VolumeDriverNotFound, match="without a device_path"):
        volume_source_of(info)


def test_a_volume_without_an_id_is_refused() -> None:
    info = {"driver_volume_type": "local", "data": {"device_path": "/dev/sdc"}}
    with pytest.raises(InvalidInput, match=r"connection_info\.serial: no volume id"):
        volume_source_of(info)
