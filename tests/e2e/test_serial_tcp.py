"""The interactive console as a raw TCP endpoint (config ``serial_tcp``) on a real s390x guest.

The guest's SCLP VT220 console (``sclp``) is a TCP server on 127.0.0.1: a plain socket reaches
the test image's shell on it, while the line-mode log console keeps the boot log in its file.
A hard reboot defines the guest anew from its record: the same port answers again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import InvalidState
from zcompute.virt import Hypervisor
from zcompute.xml import Domain

from .conftest import TINY, imported_test_image, own_driver
from .lifecycle_support import BOOTED
from .tcp_console_support import shell_answers

SERIAL_TCP = "127.0.0.1:41000-41999"


@pytest.fixture(scope="module")
def tcp_driver(hypervisor: Hypervisor) -> Iterator[ComputeDriver]:
    """A driver whose guests' interactive consoles are TCP endpoints."""
    with own_driver(serial_tcp=SERIAL_TCP) as drv:
        yield drv


def test_s390x_shell_over_a_tcp_console(tcp_driver: ComputeDriver, guest_name: str) -> None:
    driver = tcp_driver
    image = imported_test_image(driver, "s390x")
    inst = driver.spawn(guest_name, image, TINY.name, wait_for=BOOTED, timeout=120)
    try:
        assert inst.serial_port is not None
        assert 41000 <= inst.serial_port <= 41999
        console = driver.get_serial_console(guest_name)
        assert (console.element, console.target_type) == ("console", "sclp")
        assert (console.host, console.port) == ("127.0.0.1", inst.serial_port)
        live = Domain.from_xml(driver.domain_xml(inst.uuid))
        kinds = sorted((c.type, c.target_type) for c in live.devices.consoles)
        assert kinds == [("file", "sclplm"), ("tcp", "sclp")]
        # the boot log still goes to the log console's file, from the kernel's first line
        log = driver.get_console_output(guest_name).decode(errors="replace")
        assert "Linux version" in log
        assert BOOTED in log
        assert b"zc-42" in shell_answers(console.host or "", inst.serial_port)
        # libvirt's console stream reaches ptys only: zcompute's own console names the endpoint
        with pytest.raises(InvalidState, match=f"127.0.0.1 port {inst.serial_port}"):
            driver.open_console(guest_name)
        driver.reboot(guest_name, hard=True)  # defined anew from the record: the same port
        assert driver.get_serial_console(guest_name).port == inst.serial_port
        assert b"zc-42" in shell_answers("127.0.0.1", inst.serial_port, timeout=120)
    finally:
        driver.destroy(guest_name)
