"""Device role tags on real guests: the config drive lists each tagged device at the bus
address the guest itself sees it at (a CCW bus id on s390x, a PCI address on x86_64).

The address on the drive is read back from the drive zcompute wrote (``isoinfo``); the
address the guest sees is the parent of its NIC's virtio device in sysfs, read on the guest's
own console. A NIC hot-plugged later with a tag shows up in ``device_metadata`` the same way.
Tap NICs are unplugged from any network: no traffic is sent.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from zcompute.configdrive import ConfigDrive
from zcompute.driver import ComputeDriver, TaggedDevice
from zcompute.model import NICSpec
from zcompute.plan import CONFIG_DRIVE

from .conftest import TINY, imported_test_image
from .lifecycle_support import BOOTED, LogWatch, open_shell, run

BUS = {"s390x": "ccw", "x86_64": "pci"}


@pytest.fixture
def taps() -> Iterator[list[str]]:
    """Tap names for a test; any left behind are deleted afterwards (only these)."""
    names = [f"zct{secrets.token_hex(4)}" for _ in range(2)]
    yield names
    for name in names:
        subprocess.run(["ip", "link", "delete", "dev", name], check=False, capture_output=True)


def _mac() -> str:
    return "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def _drive_devices(drive: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        ["isoinfo", "-i", str(drive), "-J", "-x", "/openstack/latest/meta_data.json"],
        capture_output=True,
        check=True,
    ).stdout
    devices = json.loads(out)["devices"]
    assert isinstance(devices, list)
    return devices


def _bus_id_seen(stream: object, mac: str) -> str:
    """The bus address of the guest's NIC with ``mac``: its virtio device's parent in sysfs."""
    script = (
        "for n in /sys/class/net/*; do "
        f'[ "$(cat $n/address)" = "{mac}" ] && basename $(dirname $(readlink -f $n/device)); '
        "done"
    )
    return run(stream, script)  # type: ignore[arg-type]


@pytest.mark.feature("device-tags")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_tagged_nics_are_listed_at_the_address_the_guest_sees(
    driver: ComputeDriver, arch: str, guest_name: str, taps: list[str]
) -> None:
    first, second = _mac(), _mac()
    inst = driver.spawn(
        guest_name,
        imported_test_image(driver, arch),
        TINY.name,
        nics=[NICSpec(tap=taps[0], mac=first, tag="zc-data")],
        config_drive=ConfigDrive(hostname="tagged"),
        wait_for=BOOTED,
    )
    drive = driver.instances_dir / inst.uuid / CONFIG_DRIVE
    (listed,) = _drive_devices(drive)
    assert (listed["type"], listed["tags"]) == ("nic", ["zc-data"]), listed
    assert (listed["mac"], listed["bus"]) == (first, BUS[arch]), listed
    stream = open_shell(driver, guest_name)
    try:
        assert _bus_id_seen(stream, first) == listed["address"]
        with LogWatch(driver.console_log_path(guest_name)) as watch:
            driver.attach_interface(guest_name, NICSpec(tap=taps[1], mac=second, tag="zc-mgmt"))
            watch.wait(rf"ZCOMPUTE-NIC added name=\S+ mac={second}")
        by_mac = {d.mac: d for d in driver.device_metadata(guest_name)}
        assert set(by_mac) == {first, second}
        hot: TaggedDevice = by_mac[second]
        assert (hot.kind, hot.bus, hot.tags) == ("nic", BUS[arch], ("zc-mgmt",))
        assert _bus_id_seen(stream, second) == hot.address
        assert by_mac[first].address == listed["address"]
    finally:
        stream.close()
    driver.detach_interface(guest_name, second)
    assert [d.mac for d in driver.device_metadata(guest_name)] == [first]
