"""The architecture's watchdog on real guests, enabled by a flavor's ``hw_watchdog_action``.

s390x: the ``diag288`` watchdog; the test guest arms it (busybox ``watchdog``, 15 s, never fed
again) and QEMU carries out the action, here ``pause``. x86_64: the ``i6300esb`` PCI watchdog;
the guest sees the device on its PCI bus, but Debian's cloud kernel (the test guest's) has no
i6300esb driver, so it cannot arm it there.
"""

from __future__ import annotations

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import NotFound
from zcompute.model import Flavor, InstanceState
from zcompute.virt import PowerState
from zcompute.xml import Domain

from .conftest import imported_test_image
from .lifecycle_support import BOOTED, open_shell, run, timed


def _flavor(driver: ComputeDriver, action: str) -> str:
    name = f"zctest-watchdog-{action}"
    try:
        driver.db.get_flavor(name)
    except NotFound:
        driver.db.add_flavor(Flavor(name, 1, 256, 1, {"hw_watchdog_action": action}))
    return name


def _watchdogs(driver: ComputeDriver, name: str) -> list[tuple[str | None, str | None]]:
    live = Domain.from_xml(driver.domain_xml(name))
    return [(w.model, w.action) for w in live.devices.watchdogs]


@pytest.mark.feature("watchdog", arch="s390x")
def test_diag288_fires_on_s390x(driver: ComputeDriver, guest_name: str) -> None:
    flavor = _flavor(driver, "pause")
    driver.spawn(guest_name, imported_test_image(driver, "s390x"), flavor, wait_for=BOOTED)
    assert _watchdogs(driver, guest_name) == [("diag288", "pause")]
    log = driver.get_console_output(guest_name).decode(errors="replace")
    assert "watchdog cannot be initialized" not in log  # the guest driver found the device
    with open_shell(driver, guest_name) as shell:
        assert run(shell, "ls /dev/watchdog") == "/dev/watchdog"
        run(shell, "watchdog -T 15 -t 3600 /dev/watchdog")  # armed, fed once, then never
    uuid = driver.get_instance(guest_name).uuid
    with timed("s390x", "watchdog armed (15 s) until QEMU paused the guest"):
        driver.domains.wait_state(uuid, {PowerState.PAUSED}, timeout=60)
    assert driver.live_state(uuid).reason == "watchdog"
    assert driver.get_info(guest_name).state is InstanceState.PAUSED


@pytest.mark.feature("watchdog", arch="x86_64")
def test_i6300esb_is_on_the_x86_guests_pci_bus(driver: ComputeDriver, guest_name: str) -> None:
    flavor = _flavor(driver, "reset")
    driver.spawn(guest_name, imported_test_image(driver, "x86_64"), flavor, wait_for=BOOTED)
    assert _watchdogs(driver, guest_name) == [("i6300esb", "reset")]
    with open_shell(driver, guest_name) as shell:
        pairs = run(
            shell,
            "for d in /sys/bus/pci/devices/*; do echo $(cat $d/vendor):$(cat $d/device); done",
        )
    assert "0x8086:0x25ab" in pairs.split()  # Intel 6300ESB watchdog
