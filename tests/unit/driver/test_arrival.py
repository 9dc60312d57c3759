"""What a migrating guest's destination gets: the record, images and small files, as text
that travels between hosts (Nova's migrate data) and is checked again on arrival."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from zcompute.driver import Arrival, ComputeDriver, arrival_from_json, arrival_to_json
from zcompute.driver._migrate import _SENT_MAX, _sent
from zcompute.errors import InvalidInput
from zcompute.model import BlockDeviceSpec, NICSpec

from .conftest import Recorder


def test_an_arrival_round_trips_with_its_devices_and_files(
    test_driver: ComputeDriver, recorded: Recorder, tmp_path: Path
) -> None:
    inst = recorded()
    disk = tmp_path / "vol.img"
    disk.write_bytes(b"\0" * 512)
    inst = dataclasses.replace(
        inst,
        block_devices=(BlockDeviceSpec(disk, "vdb", serial="v1", format="raw"),),
        nics=(NICSpec(network="default", mac="52:54:00:00:00:01"),),
    )
    files = {"disk.config": b"\x00iso", "console.log": b"[    0.000000] Linux version"}
    connections = {"vdb": {"driver": "fc", "connection_info": {"data": {}}}}
    arrival = Arrival(inst, None, files, connections)
    back = arrival_from_json(arrival_to_json(arrival))
    assert back == arrival


def test_only_the_folder_s_small_files_travel(recorded: Recorder) -> None:
    text = arrival_to_json(Arrival(recorded(), None, {"console.log": b"x"}))
    planted = text.replace('"console.log"', '"../../etc/passwd"')
    assert arrival_from_json(planted).files == {}  # a name not sent is never written
    with pytest.raises(InvalidInput, match=r"^arrival: not a migrating guest's description"):
        arrival_from_json('{"instance": {}}')


def test_a_long_console_log_keeps_its_beginning_and_its_end(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(b"EARLY" + b"." * _SENT_MAX + b"LATE")
    sent = _sent(log)
    assert sent.startswith(b"EARLY")
    assert sent.endswith(b"LATE")
    assert b"stayed on the source host" in sent
    assert len(sent) < _SENT_MAX + 200
