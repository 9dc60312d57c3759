"""Config drives: OpenStack's layout from zcompute's types, checked input, a readable ISO."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from zcompute._faults import FAULT_VARIABLE, InjectedFault
from zcompute.configdrive import (
    LABEL,
    MAX_USER_DATA,
    ConfigDrive,
    config_drive_files,
    hostname_from_name,
    network_data_for,
    parse_ssh_keys,
    remove_staging,
    write_config_drive,
)
from zcompute.errors import InvalidInput
from zcompute.model import NICSpec

UUID = str(uuid.UUID(int=7))
# a well-formed ed25519 public key: its blob names its own type
_BLOB = base64.b64encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + bytes(range(32))).decode()
KEY = f"ssh-ed25519 {_BLOB} operator@example"


def _meta(files: dict[str, bytes]) -> dict[str, object]:
    return json.loads(files["openstack/latest/meta_data.json"])  # type: ignore[no-any-return]


def test_meta_data_names_the_instance_its_hostname_and_keys() -> None:
    drive = ConfigDrive(hostname="web-1", public_keys=(KEY,))
    meta = _meta(config_drive_files(drive, uuid=UUID, name="web 1", metadata={"role": "db"}))
    assert meta["uuid"] == UUID
    assert meta["name"] == "web 1"
    assert meta["hostname"] == "web-1"
    assert meta["public_keys"] == {"key-0": KEY}
    assert meta["keys"] == [{"name": "key-0", "type": "ssh", "data": KEY}]
    assert meta["meta"] == {"role": "db"}


def test_hostname_defaults_to_one_made_from_the_name() -> None:
    assert hostname_from_name("My VM_01") == "my-vm-01"
    assert hostname_from_name("___") == "instance"
    meta = _meta(config_drive_files(ConfigDrive(), uuid=UUID, name="Big.Box"))
    assert meta["hostname"] == "big-box"


def test_extra_meta_cannot_replace_identity() -> None:
    drive = ConfigDrive(extra_meta={"uuid": "forged", "availability_zone": "z1"})
    meta = _meta(config_drive_files(drive, uuid=UUID, name="a"))
    assert meta["uuid"] == UUID
    assert meta["availability_zone"] == "z1"


def test_network_data_names_each_nic_by_its_mac() -> None:
    nics = [
        NICSpec(network="default", mac="52:54:00:00:00:01"),
        NICSpec(bridge="br0", mac="52:54:00:00:00:02"),
    ]
    files = config_drive_files(ConfigDrive(), uuid=UUID, name="a", nics=nics)
    data = json.loads(files["openstack/latest/network_data.json"])
    assert [link["ethernet_mac_address"] for link in data["links"]] == [
        "52:54:00:00:00:01",
        "52:54:00:00:00:02",
    ]
    assert data["networks"] == []
    with pytest.raises(InvalidInput, match="MAC"):
        network_data_for([NICSpec(network="default")])


def test_user_data_is_written_as_given_and_only_when_given() -> None:
    files = config_drive_files(ConfigDrive(user_data=b"#cloud-config\n"), uuid=UUID, name="a")
    assert files["openstack/latest/user_data"] == b"#cloud-config\n"
    assert "openstack/latest/user_data" not in config_drive_files(
        ConfigDrive(), uuid=UUID, name="a"
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"hostname": "-bad"}, "hostname"),
        ({"hostname": "a" * 64}, "hostname"),
        ({"hostname": "under_score"}, "hostname"),
        ({"user_data": b"x" * (MAX_USER_DATA + 1)}, "user-data"),
        ({"public_keys": ("ssh-dss AAAA",)}, "ssh-key line 1"),
        ({"public_keys": (f'command="rm -rf /" {KEY}',)}, "ssh-key line 1"),
        ({"public_keys": (f"ssh-rsa {_BLOB}",)}, "ssh-key line 1"),
        ({"public_keys": ("ssh-ed25519 not-base64!",)}, "ssh-key line 1"),
        ({"extra_meta": {"x": object()}}, "config drive"),
    ],
)
def test_bad_input_is_refused_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ConfigDrive(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field
    assert "\n" not in str(err.value)


def test_key_files_may_hold_comments_and_several_keys() -> None:
    text = f"# mine\n\n{KEY}\n{KEY.rsplit(' ', 1)[0]}\n"
    assert parse_ssh_keys(text) == (KEY, KEY.rsplit(" ", 1)[0])
    with pytest.raises(InvalidInput, match="at most 32"):
        parse_ssh_keys("\n".join([KEY] * 33))


def _iso_file(iso: Path, path: str) -> bytes:
    done = subprocess.run(
        ["isoinfo", "-R", "-i", str(iso), "-x", f"/{path}"], capture_output=True, check=True
    )
    return done.stdout


def test_the_drive_is_an_iso_labelled_config_2_with_the_files(tmp_path: Path) -> None:
    drive = ConfigDrive(hostname="h", public_keys=(KEY,), user_data=b"secret: 1\n")
    files = config_drive_files(drive, uuid=UUID, name="a")
    iso = write_config_drive(files, tmp_path / "disk.config")
    info = subprocess.run(["isoinfo", "-d", "-i", str(iso)], capture_output=True, text=True)
    assert f"Volume id: {LABEL}" in info.stdout
    for path, data in files.items():
        assert _iso_file(iso, path) == data
    assert iso.stat().st_mode & 0o777 == 0o600  # user data may hold secrets
    assert list(tmp_path.iterdir()) == [iso]  # no staging left behind


def test_an_interrupted_write_leaves_no_drive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAULT_VARIABLE, "configdrive.staged:raise")
    with pytest.raises(InjectedFault):
        write_config_drive({"openstack/latest/x": b"1"}, tmp_path / "disk.config")
    assert list(tmp_path.iterdir()) == []


def test_staging_a_killed_write_left_is_removed(tmp_path: Path) -> None:
    (tmp_path / ".configdrive-abc" / "tree").mkdir(parents=True)
    (tmp_path / "disk.config").write_bytes(b"")
    remove_staging(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["disk.config"]


def test_file_paths_cannot_leave_the_drive(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        write_config_drive({"../escape": b"1"}, tmp_path / "disk.config")
    assert list(tmp_path.iterdir()) == []
