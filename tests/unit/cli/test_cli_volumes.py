"""``zcompute volume ...`` and ``zcompute interface ...``: parsing, FC paths, listings, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.unit.cli.cli_support import GuestFactory, Zc

from zcompute.cli._volumes import FcPath, fc_connection_info, parse_fc_path
from zcompute.errors import InvalidInput
from zcompute.model import BlockDeviceSpec
from zcompute.volumes import HostFs, parse_connection_info

WWPN = "500507680b21ac13"


def _fc_host(root: Path, host: int, devno: str, port_name: str) -> None:
    """One zfcp adapter in a sysfs tree shaped like an LPAR's (class link -> device dir)."""
    device = root / f"sys/devices/css0/0.0.010{host}/{devno}/host{host}/fc_host/host{host}"
    device.mkdir(parents=True)
    (device / "port_name").write_text(f"0x{port_name}\n")
    (device / "node_name").write_text("0x5005076400c1b2a9\n")
    (device / "port_state").write_text("Online\n")
    link = root / f"sys/class/fc_host/host{host}"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(device, link.parent))


def test_parse_fc_path() -> None:
    assert parse_fc_path(f"0.0.8000:0x{WWPN.upper()}:1") == FcPath("0.0.8000", WWPN, 1)
    assert parse_fc_path(f"0.0.8000:{WWPN}:0x40014000").lun == 0x40014000


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (f"8000:{WWPN}:1", "--fc DEVNO"),
        ("0.0.8000:5005:1", "--fc WWPN"),
        (f"0.0.8000:{WWPN}:one", "--fc LUN"),
        (f"0.0.8000:{WWPN}:-1", "--fc LUN"),
        (f"0.0.8000:{WWPN}", "--fc"),
    ],
)
def test_parse_fc_path_errors_name_the_part(text: str, field: str) -> None:
    with pytest.raises(InvalidInput, match="allowed") as caught:
        parse_fc_path(text)
    assert caught.value.field == field


def test_fc_connection_info_zones_each_target_to_its_fcp_device(tmp_path: Path) -> None:
    _fc_host(tmp_path, 0, "0.0.8000", "c05076ffe5005611")
    _fc_host(tmp_path, 1, "0.0.8100", "c05076ffe5005711")
    paths = [FcPath("0.0.8000", WWPN, 1), FcPath("0.0.8100", "500507680b22ac13", 1)]
    info = fc_connection_info(paths, "vol-1", HostFs(tmp_path))
    assert info["data"]["initiator_target_map"] == {
        "c05076ffe5005611": [WWPN],
        "c05076ffe5005711": ["500507680b22ac13"],
    }
    parsed = parse_connection_info(info)  # what the FC connector will accept
    assert parsed.volume_id == "vol-1"
    assert [(t.wwpn, t.lun) for t in parsed.targets] == [(WWPN, 1), ("500507680b22ac13", 1)]
    assert parsed.targets_for("c05076ffe5005611") == (parsed.targets[0],)


def test_fc_connection_info_refuses_an_unknown_fcp_device(tmp_path: Path) -> None:
    _fc_host(tmp_path, 0, "0.0.8000", "c05076ffe5005611")
    with pytest.raises(InvalidInput, match=r"0\.0\.9000 is not an FCP device.*allowed: 0\.0\.8000"):
        fc_connection_info([FcPath("0.0.9000", WWPN, 1)], "v", HostFs(tmp_path))


def test_volume_list(zc: Zc, make_guest: GuestFactory, files: Path) -> None:
    disk = files / "data.img"
    disk.write_bytes(b"\0" * 4096)
    with_disk = make_guest(block_devices=(BlockDeviceSpec(source=disk, target="vdc", serial="S"),))
    bare = make_guest("bare")
    assert json.loads(zc("volume", "list", bare.name, "--json").out) == []
    listed = json.loads(zc("volume", "list", with_disk.name, "--json").out)
    assert listed == [
        {
            "instance": with_disk.name,
            "source": str(disk),
            "target": "vdc",
            "bus": "virtio",
            "readonly": False,
            "serial": "S",
            "device": "disk",
            "format": None,
            "tag": None,
            "size_bytes": None,
            "shareable": False,
            "encryption_secret": None,
            "boot": False,
        }
    ]
    assert [v["instance"] for v in json.loads(zc("volume", "list", "--json").out)] == [
        with_disk.name
    ]
    assert "vdc" in zc("volume", "list").out
    assert zc("volume", "list", "ghost").code == 3


def test_volume_attach_usage_and_input_errors(
    zc: Zc, make_guest: GuestFactory, files: Path
) -> None:
    guest = make_guest()
    disk = files / "d.img"
    disk.write_bytes(b"")
    fc = f"0.0.8000:{WWPN}:1"
    cases = [
        (("volume", "attach", guest.name), 2, "give one of --file PATH, --fc"),
        (("volume", "attach", guest.name, "--file", str(disk), "--fc", fc), 2, "give one of"),
        (("volume", "attach", guest.name, "--iscsi", "127.0.0.1:3260"), 2, "--iqn IQN"),
        (
            (
                "volume",
                "attach",
                guest.name,
                "--iscsi",
                "h:1",
                "--iqn",
                "iqn.2000-01.x:y",
                "--lun",
                "1",
                "--chap-user",
                "u",
            ),
            2,
            "--chap-password-file",
        ),
        (("volume", "attach", guest.name, "--file", str(files / "none")), 2, "does not exist"),
        (("volume", "attach", guest.name, "--file", str(disk), "--bus", "floppy"), 2, "floppy"),
        (("volume", "attach", guest.name, "--fc", "0.0.8000:1:1"), 1, "--fc WWPN"),
        (("volume", "attach", "ghost", "--file", str(disk)), 3, "instance 'ghost' not found"),
    ]
    for argv, code, message in cases:
        result = zc(*argv)
        assert result.code == code, (argv, result)
        assert message in result.err, (argv, result)


def test_interface_list_and_errors(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest()
    assert json.loads(zc("interface", "list", guest.name, "--json").out) == []
    assert zc("interface", "list", "ghost").code == 3
    neither = zc("interface", "attach", guest.name)
    assert neither.code == 2
    assert "give one of --network NET, --bridge BRIDGE and --tap NAME" in neither.err
    both = zc("interface", "attach", guest.name, "--network", "n1", "--tap", "zct1")
    assert both.code == 2
    for name in ("-rf", "tap/1", "tap3f2a9c1e-7b0c"):  # an option to ip, a path, 16 characters
        bad_tap = zc("interface", "attach", guest.name, "--tap", name)
        assert bad_tap.code == 1
        assert f"nic.tap: invalid tap {name!r}" in bad_tap.err
    bad_mtu = zc("interface", "attach", guest.name, "--tap", "zct1", "--mtu", "67")
    assert bad_mtu.code == 1
    assert "nic.mtu: invalid value 67 (allowed: an integer from 68 to 65535)" in bad_mtu.err
    bad_mac = zc("interface", "attach", guest.name, "--network", "n1", "--mac", "01:00:5e:00:00:01")
    assert bad_mac.code == 1
    assert "nic.mac: not a unicast address" in bad_mac.err


# -- attach and detach on a real guest: tests/e2e/test_cli_guests.py (the test driver has no
# device hotplug). What fails before libvirt is asked is tested here.


def test_attach_of_a_missing_path_or_to_a_stopped_record(
    zc: Zc, make_guest: GuestFactory, files: Path
) -> None:
    guest = make_guest()
    taken = zc("volume", "attach", guest.name, "--file", str(files), "--target", "vdb")
    assert taken.code == 2  # a directory is not a volume
    assert "is a directory" in taken.err


def test_extend_and_swap_of_what_is_not_there(
    zc: Zc, make_guest: GuestFactory, files: Path
) -> None:
    guest = make_guest(persistent=True)
    extend = zc("volume", "extend", guest.name, "vdq")
    assert extend.code == 3, extend
    assert f"no volume 'vdq' is attached to instance {guest.name}" in extend.err
    disk = files / "new.img"
    disk.write_bytes(b"\0" * 4096)
    assert zc("volume", "swap", guest.name, "vdq", str(files / "none")).code == 2
    swap = zc("volume", "swap", "ghost", "vdb", str(disk))
    assert swap.code == 3, swap
    assert "instance 'ghost' not found" in swap.err


def test_swap_takes_one_new_volume_and_iscsi_options_in_full(
    zc: Zc, make_guest: GuestFactory, files: Path
) -> None:
    guest = make_guest(persistent=True)
    disk = files / "new.img"
    disk.write_bytes(b"\0" * 4096)
    for args in ([], [str(disk), "--iscsi", "192.0.2.1:3260"]):
        both = zc("volume", "swap", guest.name, "vdb", *args)
        assert both.code == 2, both
        assert "give one of NEW_VOLUME, --fc DEVNO:WWPN:LUN or --iscsi" in both.err
    no_iqn = zc("volume", "swap", guest.name, "vdb", "--iscsi", "192.0.2.1:3260")
    assert no_iqn.code == 2
    assert "--iscsi needs --iqn IQN and --lun N" in no_iqn.err
    iscsi = ("--iscsi", "192.0.2.1:3260", "--iqn", "iqn.2010-10.org.x:v", "--lun", "1")
    missing = zc("volume", "swap", guest.name, "vdq", *iscsi)
    assert missing.code == 3, missing
    assert f"no volume 'vdq' is attached to instance {guest.name}" in missing.err


def test_detach_of_a_target_that_is_not_attached(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest(persistent=True)
    result = zc("volume", "detach", guest.name, "vdq")
    assert result.code == 3, result
    assert f"no volume 'vdq' is attached to instance {guest.name}" in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--chap-password-file", "vdb"), "--chap-password-file: 'vdb' is not TARGET=FILE"),
        (("--luks-passphrase-file", "=x"), "--luks-passphrase-file: '=x' is not TARGET=FILE"),
        (("--chap-password-file", "vdb=/nonexistent/pw"), "--chap-password-file: cannot read"),
    ],
)
def test_migrate_names_the_bad_secret_option(
    zc: Zc, make_guest: GuestFactory, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    guest = make_guest()
    run = zc("migrate", guest.name, "--to", "test:///default", "--to-data-dir", str(tmp_path / "b"),
             *args)  # fmt: skip
    assert run.code == 1
    assert message in run.err
    assert not (tmp_path / "b").exists()  # nothing made for the other host


def test_migrate_refuses_a_secret_given_twice(
    zc: Zc, make_guest: GuestFactory, files: Path
) -> None:
    secret = files / "pw"
    secret.write_text("pw\n")
    guest = make_guest()
    twice = ("--chap-password-file", f"vdb={secret}") * 2
    run = zc("migrate", guest.name, "--to", "test:///default", "--to-data-dir", str(files / "b"),
             *twice)  # fmt: skip
    assert run.code == 1
    assert "volume vdb is given twice" in run.err
