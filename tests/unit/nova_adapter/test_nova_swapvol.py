"""The volume that Nova's extend and swap name (zcompute.nova._swapvol).

A swap onto an iSCSI volume, or an FC one without a device, goes to zcompute's
``swap_volume_connection`` (zcompute connects it, as an attach does; the passphrase of an
encrypted one from Nova's key manager); a volume Nova already made local is taken as its device
(``volume_source_of``), and anything else is refused by name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nova import exception

from zcompute.errors import InvalidInput
from zcompute.model import BlockDeviceSpec
from zcompute.nova import _swapvol
from zcompute.nova._swapvol import SwapVolumeMethods, connects_itself, volume_source_of
from zcompute.volumes import DiskSource, VolumeEncryption

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


ISCSI_INFO: dict[str, Any] = {
    "driver_volume_type": "iscsi",
    "serial": VOLUME_ID,
    "data": {"target_portal": "192.0.2.1:3260", "target_iqn": "iqn.2010-10.org.x:v",
             "target_lun": 1},
}  # fmt: skip
FC_INFO = {"driver_volume_type": "fibre_channel", "data": {"target_wwn": "5005", "target_lun": 1}}


@pytest.mark.parametrize(
    ("info", "connects"),
    [
        (ISCSI_INFO, True),
        ({**ISCSI_INFO, "data": {"device_path": "/dev/sdc"}}, True),  # QEMU logs in anyway
        (FC_INFO, True),
        ({**FC_INFO, "data": {"device_path": "/dev/sdc"}}, False),
        ({"driver_volume_type": "local", "data": {"device_path": "/dev/sdc"}}, False),
        ({"driver_volume_type": "rbd", "data": {}}, False),
    ],
)
def test_which_volumes_zcompute_connects_itself(info: dict[str, Any], connects: bool) -> None:
    assert connects_itself(info) is connects


class _Zc:
    """zcompute's driver as the adapter calls it: records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def swap_volume_connection(self, uuid: str, target: str, info: Any, **kw: Any) -> Any:
        self.calls.append(("swap_volume_connection", uuid, target, info, kw))
        return BlockDeviceSpec(source=Path("/dev/sdz"), target=target, size_bytes=1 << 30)

    def swap_volume(self, uuid: str, target: str, volume: Any) -> Any:
        self.calls.append(("swap_volume", uuid, target, volume))
        return BlockDeviceSpec(source=Path(volume.path), target=target, size_bytes=1 << 30)

    def extend_volume(self, uuid: str, target: str, size: int) -> None:
        self.calls.append(("extend_volume", uuid, target, size))


class _Adapter(SwapVolumeMethods):
    def __init__(self, zc: _Zc) -> None:  # no Nova virtapi: only the swap is called
        self._zc = zc  # type: ignore[assignment]

    @contextlib.contextmanager
    def _guest(self, instance: Any) -> Iterator[str]:
        yield str(instance)


def test_a_swap_onto_a_volume_zcompute_connects_takes_its_passphrase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = VolumeEncryption(b"00ff", "luks")
    asked: list[Any] = []
    monkeypatch.setattr(_swapvol, "volume_encryption", lambda *a: asked.append(a) or key)
    zc = _Zc()
    _Adapter(zc).swap_volume("ctx", {}, ISCSI_INFO, "uuid-1", "/dev/vdb", 2)
    assert asked == [("ctx", ISCSI_INFO, None)]
    assert zc.calls == [
        ("swap_volume_connection", "uuid-1", "vdb", ISCSI_INFO, {"encryption": key}),
        ("extend_volume", "uuid-1", "vdb", 2 << 30),  # Nova's resize_to: a larger new volume
    ]


def test_a_swap_onto_a_device_the_host_has_takes_the_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_swapvol, "volume_encryption", lambda *a: pytest.fail("no key needed"))
    zc = _Zc()
    info = {**FC_INFO, "serial": VOLUME_ID, "data": {"device_path": "/dev/sdc"}}
    _Adapter(zc).swap_volume("ctx", {}, info, "uuid-1", "/dev/vdc", 0)
    assert zc.calls == [
        ("swap_volume", "uuid-1", "vdc", DiskSource(path="/dev/sdc", serial=VOLUME_ID))
    ]
