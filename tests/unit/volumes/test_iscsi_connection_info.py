"""Cinder's iSCSI connection_info: what is accepted, and each bad field named in the error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zcompute.errors import InvalidInput
from zcompute.model import BlockDeviceSpec, NetworkDiskSource
from zcompute.volumes import (
    IscsiPath,
    VolumeEncryption,
    choose_path,
    iscsi_initiator_name,
    parse_iscsi_connection_info,
)

IQN = "iqn.2010-10.org.openstack:volume-0f8fad5b"
VOLUME = "0f8fad5b-d9cb-469f-a165-70867728950e"


def _info(**data: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "target_portal": "192.0.2.10:3260",
        "target_iqn": IQN,
        "target_lun": 1,
        "volume_id": VOLUME,
    }
    base.update(data)
    return {
        "driver_volume_type": "iscsi",
        "serial": VOLUME,
        "data": {k: v for k, v in base.items() if v is not None},
    }


def test_a_plain_volume() -> None:
    info = parse_iscsi_connection_info(_info())
    assert info.paths == (IscsiPath("192.0.2.10", 3260, IQN, 1),)
    assert info.volume_id == VOLUME
    assert (info.auth_username, info.auth_password) == (None, None)
    assert not info.readonly
    assert not info.multiattach
    assert not info.encrypted
    source = info.disk_source(info.paths[0], None, "iqn.2004-10.org.debian:01:abc")
    assert str(source) == f"iscsi://192.0.2.10:3260/{IQN}/1"
    assert source.initiator == "iqn.2004-10.org.debian:01:abc"


def test_chap_flags_and_portal_spellings() -> None:
    info = parse_iscsi_connection_info(
        _info(
            target_portal="[2001:db8::1]:3261",
            auth_method="CHAP",
            auth_username="user1",
            auth_password="pw-secret",
            access_mode="ro",
            encrypted=True,
        )
        | {"multiattach": True}
    )
    assert (info.paths[0].host, info.paths[0].port) == ("2001:db8::1", 3261)
    assert (info.auth_username, info.auth_password) == ("user1", "pw-secret")
    assert info.readonly
    assert info.encrypted
    assert info.multiattach
    assert "pw-secret" not in repr(info)  # never in a log line
    assert parse_iscsi_connection_info(_info(target_portal="host.example")).paths[0].port == 3260
    # open-iscsi's portal group tag is dropped
    assert (
        parse_iscsi_connection_info(_info(target_portal="10.1.2.3:3260,1")).paths[0].host
        == "10.1.2.3"
    )


def test_several_paths_use_the_first_reachable_else_the_first() -> None:
    info = parse_iscsi_connection_info(
        _info(
            target_portal=None,
            target_iqn=None,
            target_lun=None,
            target_portals=["192.0.2.1:3260", "192.0.2.2:3260"],
            target_iqns=[IQN, IQN],
            target_luns=[1, 2],
        )
    )
    assert [p.host for p in info.paths] == ["192.0.2.1", "192.0.2.2"]
    assert choose_path(info, lambda host, port: host == "192.0.2.2").lun == 2
    assert choose_path(info, lambda host, port: False).host == "192.0.2.1"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target_portal": None}, "connection_info.data.target_portal"),
        ({"target_portal": "a:b:c"}, "connection_info.data.target_portal"),
        ({"target_portal": "host:70000"}, "connection_info.data.target_portal"),
        ({"target_iqn": "not an iqn"}, "connection_info.data.target_iqn"),
        ({"target_iqn": None}, "connection_info.data.target_iqn"),
        ({"target_lun": -1}, "connection_info.data.target_lun"),
        ({"target_lun": "1"}, "connection_info.data.target_lun"),
        ({"target_lun": True}, "connection_info.data.target_lun"),
        ({"auth_method": "kerberos"}, "connection_info.data.auth_method"),
        ({"auth_method": "CHAP", "auth_password": "x"}, "connection_info.data.auth_username"),
        ({"auth_method": "CHAP", "auth_username": "u"}, "connection_info.data.auth_password"),
        (
            {"auth_method": "CHAP", "auth_username": "a b", "auth_password": "x"},
            "connection_info.data.auth_username",
        ),
        ({"access_mode": "rwx"}, "connection_info.data.access_mode"),
        ({"encrypted": "yes"}, "connection_info.data.encrypted"),
        ({"multiattach": 1}, "connection_info.data.multiattach"),
        ({"volume_id": "a/b"}, "connection_info.data.volume_id"),
        (
            {"target_portals": ["h:1"], "target_iqns": [IQN, IQN], "target_luns": [1]},
            "connection_info.data.target_portals",
        ),
        (
            {"target_portals": "h:1", "target_iqns": [IQN], "target_luns": [1]},
            "connection_info.data.target_portals",
        ),
        (
            {"target_portals": ["h:1"], "target_iqns": ["x"], "target_luns": [1]},
            "connection_info.data.target_iqns[0]",
        ),
        (
            {"target_portals": ["h:1"], "target_iqns": [IQN], "target_luns": [99999]},
            "connection_info.data.target_luns[0]",
        ),
    ],
)
def test_each_bad_field_is_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_iscsi_connection_info(_info(**change))
    assert caught.value.field == field
    assert field in str(caught.value)


def test_the_envelope_is_checked() -> None:
    with pytest.raises(InvalidInput, match="driver_volume_type"):
        parse_iscsi_connection_info({"driver_volume_type": "fibre_channel", "data": {}})
    with pytest.raises(InvalidInput, match=r"connection_info\.data"):
        parse_iscsi_connection_info({"driver_volume_type": "iscsi"})
    with pytest.raises(InvalidInput, match="multiattach"):
        parse_iscsi_connection_info({**_info(), "multiattach": "yes"})


def test_volume_encryption_takes_nova_luks_providers_only() -> None:
    assert VolumeEncryption(b"k", "nova.volume.encryptors.luks.LuksEncryptor").passphrase == b"k"
    assert VolumeEncryption("hex", "luks").passphrase == b"hex"  # type: ignore[arg-type]
    assert "k3y" not in repr(VolumeEncryption(b"k3y"))
    for provider in ("luks2", "plain", "CryptsetupEncryptor"):
        with pytest.raises(InvalidInput, match=r"encryption\.provider"):
            VolumeEncryption(b"k", provider)
    with pytest.raises(InvalidInput, match=r"encryption\.passphrase"):
        VolumeEncryption(b"")


def test_network_disk_source_rules() -> None:
    ok = NetworkDiskSource(host="h", name=f"{IQN}/0", auth_username="u", auth_secret=VOLUME)
    assert BlockDeviceSpec(source=ok, target="vdb", shareable=True).source == ok
    for bad, field in (
        ({"name": IQN}, "block_device.source.name"),
        ({"name": f"{IQN}/x"}, "block_device.source.name"),
        ({"host": "-bad host"}, "block_device.source.host"),
        ({"port": 0}, "block_device.source.port"),
        ({"auth_username": "u"}, "block_device.source.auth"),
        ({"auth_username": "u", "auth_secret": "nope"}, "block_device.source.auth_secret"),
        ({"initiator": "x"}, "block_device.source.initiator"),
        ({"protocol": "nbd"}, "block_device.source.protocol"),
    ):
        with pytest.raises(InvalidInput) as caught:
            NetworkDiskSource(**({"host": "h", "name": f"{IQN}/1"} | bad))
        assert caught.value.field == field
    with pytest.raises(InvalidInput, match="encryption_secret"):
        BlockDeviceSpec(source=ok, target="vdb", encryption_secret="nope")


def test_initiator_name_is_the_hosts_or_generated_once(tmp_path: Path) -> None:
    system = tmp_path / "initiatorname.iscsi"
    data = tmp_path / "data"
    data.mkdir()
    generated = iscsi_initiator_name(data, system)
    assert generated.startswith("iqn.2004-10.org.debian:01:zcompute-")
    assert iscsi_initiator_name(data, system) == generated  # kept
    system.write_text("## open-iscsi\nInitiatorName=iqn.1993-08.org.debian:01:abcdef\n")
    assert iscsi_initiator_name(data, system) == "iqn.1993-08.org.debian:01:abcdef"
    system.write_text("InitiatorName=GenerateName=yes\n")  # open-iscsi's placeholder
    assert iscsi_initiator_name(data, system) == generated
