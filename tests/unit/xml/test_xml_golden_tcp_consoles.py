"""Golden outputs of the interactive console as a raw TCP server (config ``serial_tcp``).

Each case is what the profile lays out and the builder writes, in both s390x forms and on
x86_64 (where one ISA serial port is both consoles when virtlogd keeps the log, two without).
Like every golden output they are also checked by libvirt's schema and defined on
``test:///default`` (:mod:`tests.unit.xml.test_xml_libvirt`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.unit.xml.xml_support import assert_golden, skeleton, typed_view

from zcompute.arch import get_profile
from zcompute.builder import chardev
from zcompute.xml import Domain

LOG = "/var/lib/zcompute/instances/c/console.log"
TCP = ("127.0.0.1", 10007)


def _consoles(name: str, arch: str, machine: str, form: str, virtlogd: bool = True) -> Domain:
    dom = skeleton(name, arch, machine)
    for spec in get_profile(arch).layout(LOG, form, virtlogd, tcp=TCP).specs:
        dom.devices.add(chardev(spec))
    return dom


CASES: dict[str, Callable[[], Domain]] = {
    "tcp-console-s390x": lambda: _consoles(
        "tcp-console-s390x", "s390x", "s390-ccw-virtio", "console"
    ),
    "tcp-serial-s390x": lambda: _consoles("tcp-serial-s390x", "s390x", "s390-ccw-virtio", "serial"),
    "tcp-serial-x86": lambda: _consoles("tcp-serial-x86", "x86_64", "pc", "console"),
    "tcp-serial-x86-no-virtlogd": lambda: _consoles(
        "tcp-serial-x86-no-virtlogd", "x86_64", "pc", "console", virtlogd=False
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    dom = CASES[name]()
    xml = dom.to_xml()
    assert_golden(name, xml)
    assert typed_view(Domain.from_xml(xml)) == typed_view(dom)
    assert Domain.from_xml(xml).to_xml() == xml


@pytest.mark.parametrize("name", sorted(CASES))
def test_only_the_interactive_console_listens_and_the_log_stays_a_file(name: str) -> None:
    dom = CASES[name]()
    devices = [*dom.devices.serials, *dom.devices.consoles]
    tcp = [d for d in devices if d.type == "tcp"]
    assert [(d.source_mode, d.source_host, d.source_service, d.protocol) for d in tcp] == [
        ("bind", "127.0.0.1", "10007", "raw")  # raw: no telnet negotiation for the proxy
    ]
    logged = [d.source_path if d.type == "file" else d.log_file for d in devices]
    assert LOG in logged  # the boot log is kept exactly as with a pty console
    assert not [d for d in devices if d.type == "pty"]
