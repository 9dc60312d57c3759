"""What a migrating guest's destination gets: the record, images and small files, as text
that travels between hosts (Nova's migrate data) and is checked again on arrival."""

from __future__ import annotations

import dataclasses
import uuid as uuidlib
from pathlib import Path

import pytest

from zcompute.driver import (
    Arrival,
    ComputeDriver,
    MigrationTarget,
    arrival_from_json,
    arrival_to_json,
)
from zcompute.driver._incoming import other_tap_name, volume_secrets
from zcompute.driver._migrate import _SENT_MAX, _sent, rewrite_initiator, rewrite_taps
from zcompute.errors import InvalidInput
from zcompute.model import BlockDeviceSpec, NetworkDiskSource, NICSpec
from zcompute.volumes import VolumeEncryption, VolumeSecrets

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


def _network_volume(target: str, *, chap: bool, luks: bool) -> BlockDeviceSpec:
    source = NetworkDiskSource(
        host="127.0.0.1",
        port=3260,
        name="iqn.2010-10.org.example:vol/1",
        auth_username="user" if chap else None,
        auth_secret=str(uuidlib.uuid4()) if chap else None,
        initiator="iqn.2004-10.org.zcompute:aaaa",
    )
    luks_secret = str(uuidlib.uuid4()) if luks else None
    return BlockDeviceSpec(source, target, serial=f"vol-{target}", encryption_secret=luks_secret)


def test_the_destination_needs_each_network_volume_s_secrets(recorded: Recorder) -> None:
    """They never travel in an arrival: a missing one, or one for a volume the guest lacks,
    is an error naming it; given ones become the same secrets (UUIDs) with their values."""
    chap, luks = (
        _network_volume("vdb", chap=True, luks=False),
        _network_volume("vdc", chap=True, luks=True),
    )
    inst = dataclasses.replace(recorded(), block_devices=(chap, luks))
    passphrase = VolumeEncryption(b"00ff")
    with pytest.raises(InvalidInput, match=r"^secrets\.vdb\.chap_password: volume vdb of"):
        volume_secrets(inst, {})
    with pytest.raises(InvalidInput, match=r"^secrets\.vdc\.encryption: .*LUKS"):
        volume_secrets(inst, {"vdb": VolumeSecrets(b"pw"), "vdc": VolumeSecrets(b"pw2")})
    with pytest.raises(InvalidInput, match=r"^secrets: .* has no volume vdz"):
        volume_secrets(inst, {"vdz": VolumeSecrets(b"pw")})
    given = {"vdb": VolumeSecrets(b"pw"), "vdc": VolumeSecrets(b"pw2", passphrase)}
    made = {(s.uuid, s.usage, s.value) for s in volume_secrets(inst, given)}
    assert isinstance(chap.source, NetworkDiskSource)
    assert isinstance(luks.source, NetworkDiskSource)
    assert made == {
        (chap.source.auth_secret, "iscsi", b"pw"),
        (luks.source.auth_secret, "iscsi", b"pw2"),
        (luks.encryption_secret, "volume", b"00ff"),
    }
    assert "pw" not in repr(given)  # kept out of any repr


def test_a_volume_with_no_secret_needs_none(recorded: Recorder) -> None:
    inst = dataclasses.replace(
        recorded(), block_devices=(_network_volume("vdb", chap=False, luks=False),)
    )
    assert volume_secrets(inst, {}) == []


def test_the_domain_logs_in_with_the_destination_s_initiator() -> None:
    xml = (
        "<disk type='network'><source protocol='iscsi' name='iqn.x:v/1'>"
        "<initiator>\n  <iqn name='iqn.2004-10.org.zcompute:aaaa'/>\n</initiator></source></disk>"
    )
    moved = rewrite_initiator(xml, "iqn.2004-10.org.zcompute:bbbb")
    assert "<iqn name='iqn.2004-10.org.zcompute:bbbb'/>" in moved
    assert "aaaa" not in moved
    assert rewrite_initiator(xml, None) == xml


def test_a_tap_its_source_holds_here_takes_the_other_name_and_back() -> None:
    assert other_tap_name("tap1a2b3c4d-5e") == "tap1a2b3c4d-5e_"
    assert other_tap_name("tap1a2b3c4d-5e_") == "tap1a2b3c4d-5e"
    assert other_tap_name("abcdefghijklmno") == "abcdefghijklmn_"  # 15: the longest name
    xml = "<interface type='ethernet'><target dev='tapA' managed='no'/></interface>"
    moved = rewrite_taps(xml, {"tapA": "tapA_"})
    assert "<target dev='tapA_' managed='no'/>" in moved
    assert rewrite_taps(moved, {"tapA": "tapA_"}) == moved  # only the exact name


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({"image_moves": {"/a": "/b'/><disk"}}, "dest.image_moves"),
        ({"image_moves": {"relative": "/b"}}, "dest.image_moves"),
        ({"tap_moves": {"tapA": "x/y"}}, "nic.tap"),
        ({"initiator": "x'y"}, "dest.initiator"),
    ],
)
def test_what_the_destination_answers_is_checked_before_it_goes_into_xml(
    answer: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        MigrationTarget("qemu:///system", Path("/i"), Path("/m"), **answer)  # type: ignore[arg-type]
    assert refused.value.field == field
