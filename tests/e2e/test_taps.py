"""Tap NICs (Nova's tap VIFs) on real s390x guests: zcompute makes the host's tap device, the
guest sees the NIC, and the device goes with the guest, its NIC, or a spawn that fails.

The devices are real (``ip tuntap``), unplugged from any network: no traffic is sent. Every
name a test chooses is deleted after it, also when it fails (and only those names).
"""

from __future__ import annotations

import secrets
import subprocess

import pytest

from zcompute._faults import FAULT_VARIABLE, InjectedFault
from zcompute.driver import ComputeDriver
from zcompute.errors import Conflict, NotFound
from zcompute.model import NICSpec
from zcompute.xml import Domain

from .conftest import TINY, imported_test_image
from .lifecycle_support import BOOTED, LogWatch, open_shell, run
from .tap_support import TapName, link_of, tap_name_fixture  # noqa: F401 (the fixture)


def _interfaces(driver: ComputeDriver, name: str) -> list[tuple[str | None, ...]]:
    live = Domain.from_xml(driver.domain_xml(name))
    return [(i.type, (i.mac or "").lower(), i.target_dev) for i in live.devices.interfaces]


def _mac() -> str:
    return "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def test_a_guest_on_a_tap_device_that_goes_with_it(
    driver: ComputeDriver, guest_name: str, tap_name: TapName
) -> None:
    tap, mac = tap_name(), _mac()
    nic = NICSpec(tap=tap, mac=mac, mtu=1400)
    driver.spawn(guest_name, imported_test_image(driver, "s390x"), TINY.name, nics=[nic],
                 wait_for=BOOTED)  # fmt: skip
    link = link_of(tap)
    assert link is not None
    assert link["mtu"] == 1400
    assert _interfaces(driver, guest_name) == [("ethernet", mac, tap)]
    log = driver.get_console_output(guest_name).decode(errors="replace")
    assert f"mac={mac}" in log, "the guest does not report the tap NIC"
    with open_shell(driver, guest_name) as shell:  # virtio-net's host MTU reaches the guest
        assert run(shell, f"grep -l {mac} /sys/class/net/*/address | sed s/address/mtu/ | "
                          "xargs cat") == "1400"  # fmt: skip

    # a host boot takes the device with it: the next start makes it again
    driver.power_off(guest_name, timeout=0)
    subprocess.run(["ip", "link", "delete", "dev", tap], check=True)
    with LogWatch(driver.console_log_path(guest_name)) as watch:
        driver.power_on(guest_name)
        assert f"mac={mac}" in watch.wait(rf"ZCOMPUTE-NIC name=\S+ mac={mac}")
    link = link_of(tap)
    assert link is not None
    assert link["mtu"] == 1400

    assert driver.destroy(guest_name)
    assert link_of(tap) is None


def test_a_spawn_that_fails_after_making_its_tap_removes_it(
    driver: ComputeDriver, guest_name: str, tap_name: TapName, monkeypatch: pytest.MonkeyPatch
) -> None:
    tap = tap_name()
    monkeypatch.setenv(FAULT_VARIABLE, "spawn.taps:raise")
    with pytest.raises(InjectedFault, match=r"after step spawn\.taps"):
        driver.spawn(guest_name, imported_test_image(driver, "s390x"), TINY.name,
                     nics=[NICSpec(tap=tap, mtu=1400)])  # fmt: skip
    assert link_of(tap) is None
    assert driver.domains.uuid_of(guest_name) is None
    with pytest.raises(NotFound):
        driver.get_instance(guest_name)


def test_a_tap_nic_hot_plugged_and_unplugged(
    driver: ComputeDriver, guest_name: str, tap_name: TapName
) -> None:
    driver.spawn(guest_name, imported_test_image(driver, "s390x"), TINY.name, wait_for=BOOTED)
    tap, mac = tap_name(), _mac()
    with LogWatch(driver.console_log_path(guest_name)) as watch:
        attached = driver.attach_interface(guest_name, NICSpec(tap=tap, mac=mac, mtu=1400))
        assert (attached.tap, attached.mac, attached.mtu) == (tap, mac, 1400)
        link = link_of(tap)
        assert link is not None
        assert link["mtu"] == 1400
        assert _interfaces(driver, guest_name) == [("ethernet", mac, tap)]
        watch.wait(rf"ZCOMPUTE-NIC added name=\S+ mac={mac}")
        assert driver.get_instance(guest_name).nics == (attached,)

        # a name the host has and zcompute did not make is never taken over
        with pytest.raises(Conflict, match="network device 'lo' that zcompute did not create"):
            driver.attach_interface(guest_name, NICSpec(tap="lo"))
        assert link_of("lo") is not None
        with pytest.raises(Conflict, match=f"already has a NIC on tap {tap}"):
            driver.attach_interface(guest_name, NICSpec(tap=tap))

        driver.detach_interface(guest_name, mac)
        watch.wait(r"ZCOMPUTE-NIC removed")
    assert link_of(tap) is None
    assert _interfaces(driver, guest_name) == []
    assert driver.get_instance(guest_name).nics == ()
