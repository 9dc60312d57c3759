"""``zcompute boot|list|show|delete`` and the power commands, on libvirt's test driver.

The guests are state records with a test-driver domain behind them (see conftest); booting a
real guest is the end-to-end tests' job (tests/e2e/test_cli_*.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from tests.unit.cli.cli_support import GuestFactory, Zc, domain_exists

from zcompute.cli._diskopts import VolumeOption, parse_volume, root_volume
from zcompute.errors import InvalidInput
from zcompute.model import BlockDeviceSpec


def test_list_shows_live_state_in_a_table_and_as_json(zc: Zc, make_guest: GuestFactory) -> None:
    one, two = make_guest("one"), make_guest("two")
    listed = json.loads(zc("list", "--json").out)
    assert sorted(g["name"] for g in listed) == sorted([one.name, two.name])
    first = next(g for g in listed if g["name"] == one.name)
    assert first["state"] == "running"
    assert first["uuid"] == one.uuid
    assert first["flavor"]["name"] == "tiny"
    assert first["image"]["name"] == "kimg"
    table = zc("list").out
    assert one.name in table
    assert "running" in table
    assert "x86_64" in table


def test_list_of_nothing(zc: Zc) -> None:
    assert json.loads(zc("list", "--json").out) == []
    assert zc("list").code == 0


def test_show_by_name_or_uuid(zc: Zc, make_guest: GuestFactory, files: Path) -> None:
    disk = files / "data.img"
    disk.write_bytes(b"\0" * 4096)
    guest = make_guest(block_devices=(BlockDeviceSpec(source=disk, target="vdb", readonly=True),))
    shown = json.loads(zc("show", guest.name, "--json").out)
    by_uuid = json.loads(zc("show", guest.uuid, "--json").out)
    for data in (shown, by_uuid):
        del data["updated_at"]  # the driver may note the live state it saw in between
    assert shown == by_uuid
    assert shown["state"] == "running"
    assert shown["live"]["state"] == "running"
    assert shown["machine_type"] == "q35"
    assert shown["block_devices"][0]["source"] == str(disk)
    assert shown["console_log"] == str(zc.data_dir / "instances" / guest.uuid / "console.log")
    table = zc("show", guest.name).out
    assert "disk vdb" in table
    assert "ro" in table
    xml = zc("show", guest.name, "--xml").out
    assert f"<uuid>{guest.uuid}</uuid>" in xml


def test_delete_removes_domain_record_and_files(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest()
    result = zc("delete", guest.name)
    assert result.code == 0, result
    assert result.out == f"deleted {guest.name}\n"
    assert not domain_exists(guest.uuid)
    assert not (zc.data_dir / "instances" / guest.uuid).exists()
    assert json.loads(zc("list", "--json").out) == []
    again = zc("delete", guest.name)
    assert again.code == 3
    assert again.err == f"zcompute: error: instance '{guest.name}' not found\n"


def test_delete_several_reports_the_missing_ones(zc: Zc, make_guest: GuestFactory) -> None:
    one, two = make_guest("one"), make_guest("two")
    result = zc("delete", one.name, "ghost", two.name)
    assert result.code == 3
    assert result.out == f"deleted {one.name}\ndeleted {two.name}\n"
    assert "instance 'ghost' not found" in result.err


@pytest.mark.parametrize(
    "argv",
    [("show", "ghost"), ("show", "ghost", "--xml"), ("console-log", "ghost"), ("console", "ghost")],
)
def test_unknown_guest_exits_3(zc: Zc, argv: tuple[str, ...]) -> None:
    result = zc(*argv)
    assert result.code == 3
    assert result.err == "zcompute: error: instance 'ghost' not found\n"


def test_boot_errors_before_anything_is_created(zc: Zc, make_guest: GuestFactory) -> None:
    make_guest()  # imports the kernel image "kimg"
    cases = [
        (("boot", "x", "--image", "nope", "--flavor", "tiny"), 3, "image 'nope' not found"),
        (("boot", "x", "--image", "kimg", "--flavor", "huge"), 3, "flavor 'huge' not found"),
        (("boot", "bad/name", "--image", "kimg", "--flavor", "tiny"), 1, "name: invalid name"),
        (("boot", "x", "--flavor", "tiny"), 2, "Missing option '--image'"),
        (("boot", "x", "--image", "kimg", "--flavor", "tiny", "--property", "k"), 2, "KEY=VALUE"),
        (
            ("boot", "x", "--image", "kimg", "--flavor", "tiny", "--wait-console", "("),
            2,
            "not a regular expression",
        ),
        (
            ("boot", "x", "--image", "kimg", "--flavor", "tiny", "--volume", "/nonexistent"),
            2,
            "no such file",
        ),
        (
            ("boot", "x", "--image", "kimg", "--flavor", "tiny", "--network", "a b"),
            1,
            "nic.network",
        ),
    ]
    for argv, code, message in cases:
        result = zc(*argv)
        assert result.code == code, (argv, result)
        assert message in result.err, (argv, result)
    assert [g["name"] for g in json.loads(zc("list", "--json").out)] != ["x"]
    assert not any(p.name == "x" for p in (zc.data_dir / "instances").iterdir())


def test_parse_volume(files: Path) -> None:
    disk = files / "d.img"
    disk.write_bytes(b"")
    assert parse_volume(str(disk)) == VolumeOption(disk)
    parsed = parse_volume(f"{disk},target=sdc,bus=scsi,readonly,serial=S1,device=cdrom")
    assert parsed == VolumeOption(disk, "sdc", "scsi", "S1", True, "cdrom")
    assert parse_volume(f"{disk},readonly=off").readonly is False
    for bad in (f"{disk},colour=red", f"{disk},readonly=maybe", ",target=vdb", "relative/none"):
        with pytest.raises(click.BadParameter):
            parse_volume(bad)


def test_root_volume_iscsi_with_chap_from_a_file(files: Path) -> None:
    secret = files / "chap"
    secret.write_text("s3cret-pass\n")
    volume = root_volume("iscsi://127.0.0.1:3261/iqn.2026-12.org.example:t1/2", "zc", str(secret))
    data = volume.connection_info["data"]
    assert volume.kind == "iscsi"
    assert (data["target_portal"], data["target_iqn"], data["target_lun"]) == (
        "127.0.0.1:3261", "iqn.2026-12.org.example:t1", 2,
    )  # fmt: skip
    assert (data["auth_username"], data["auth_password"]) == ("zc", "s3cret-pass")
    ipv6 = root_volume("iscsi://[::1]:3260/iqn.2026-12.org.example:t1/0", None, None)
    assert ipv6.connection_info["data"]["target_portal"] == "[::1]:3260"


@pytest.mark.parametrize(
    "text", ["iscsi://h/iqn.x", "nfs://h/x/1", "iscsi://h:1/iqn.2026-12.org.e:t/x", "fc:1:2"]
)
def test_root_volume_refuses_what_is_no_volume(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        root_volume(text, None, None)
    assert "--root-volume" in str(raised.value) or "--fc" in str(raised.value)


def test_root_volume_chap_needs_user_and_password() -> None:
    with pytest.raises(click.UsageError, match="CHAP needs both"):
        root_volume("iscsi://h:3260/iqn.2026-12.org.e:t/1", "zc", None)


# -- power commands: these wait on the driver's part 2 (power_off, power_on, pause, ...) --------


def test_stop_and_start(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest(persistent=True)
    stopped = zc("stop", guest.name, "--force")
    assert stopped.code == 0, stopped
    assert stopped.out == f"{guest.name}: forced off, now shutoff\n"
    assert json.loads(zc("show", guest.name, "--json").out)["state"] == "shutoff"
    started = zc("start", guest.name)
    assert started.code == 0, started
    assert started.out == f"{guest.name}: started, now running\n"


def test_pause_and_unpause(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest(persistent=True)
    assert zc("pause", guest.name).out == f"{guest.name}: paused, now paused\n"
    assert zc("unpause", guest.name).out == f"{guest.name}: unpaused, now running\n"


def test_suspend_and_resume(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest(persistent=True)
    suspended = zc("suspend", guest.name)
    assert suspended.code == 0, suspended
    assert suspended.out.startswith(f"{guest.name}: suspended, now ")
    resumed = zc("resume", guest.name)
    assert resumed.code == 0, resumed
    assert resumed.out == f"{guest.name}: resumed, now running\n"


@pytest.mark.parametrize(
    "argv",
    [
        ("stop", "ghost"),
        ("start", "ghost"),
        ("reboot", "ghost"),
        ("reboot", "ghost", "--hard"),
        ("pause", "ghost"),
        ("unpause", "ghost"),
        ("suspend", "ghost"),
        ("resume", "ghost"),
        ("snapshot", "ghost", "img"),
        ("crash-dump", "ghost"),
    ],
)
def test_power_commands_on_an_unknown_guest_exit_3(zc: Zc, argv: tuple[str, ...]) -> None:
    result = zc(*argv)
    assert result.code == 3, result
    assert "'ghost' not found" in result.err


def test_unpause_of_a_running_guest_is_a_user_error(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest(persistent=True)
    result = zc("unpause", guest.name)
    assert result.code == 1, result
    assert result.err.startswith("zcompute: error: ")
    assert json.loads(zc("show", guest.name, "--json").out)["state"] == "running"
