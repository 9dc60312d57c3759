"""The interactive console as a raw TCP server (config ``serial_tcp``): plans, and ports.

Plans: with a port the interactive console listens there (same target, same guest device, so
the test image's shell still starts on it); the log console is unchanged; the profile's lint
has nothing to say. Ports: the driver (on ``test:///default``) gives each guest its own, records
it, reuses it for every later plan, skips a port something listens on, and the state database
refuses a second instance on a recorded port.
"""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from zcompute.arch import get_profile
from zcompute.builder import build_domain_xml
from zcompute.config import Config
from zcompute.driver import ComputeDriver, HostView, PlanRequest, _serialports, make_plan
from zcompute.driver._serialports import allocate_serial_port, port_in_use
from zcompute.errors import Conflict, InvalidState
from zcompute.model import Flavor, Image, new_uuid
from zcompute.xml import Domain, validate_schema

from .driver_support import FLAVOR, HOST_CAPS, kernel_boot_image

HOST = HostView(caps=HOST_CAPS, host_cpu_model=None, kvm_usable=False, libvirt_version=9_000_000)
TCP_CONFIG = Config(
    virt_type="qemu", data_dir=Path("/var/lib/zcompute"), serial_tcp="127.0.0.1:10000-10009"
)
TTY = {"s390x": "ttysclp0", "x86_64": "ttyS0"}


def _domain(arch: str, config: Config, port: int | None) -> Domain:
    uuid = new_uuid()
    request = PlanRequest(
        uuid=uuid,
        name="guest",
        flavor=Flavor("f", 1, 256, 1),
        image=kernel_boot_image(arch),
        instance_dir=Path("/var/lib/zcompute/instances") / uuid,
        root_disk=None,
        serial_port=port,
    )
    plan = make_plan(request, config, HOST)
    assert plan.serial_port == (port if config.serial_tcp else None)
    xml = build_domain_xml(plan)
    validate_schema(xml)
    assert [f for f in get_profile(arch).lint(xml) if "console" in f.rule] == []
    return Domain.from_xml(xml)


def _chardevs(dom: Domain) -> list[tuple[str, str | None, str | None, str | None]]:
    return [
        (d.type, d.target_type, d.source_service, d.protocol)
        for d in [*dom.devices.serials, *dom.devices.consoles]
    ]


@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_with_a_port_the_interactive_console_is_a_raw_tcp_server(arch: str) -> None:
    dom = _domain(arch, TCP_CONFIG, 10003)
    if arch == "s390x":  # the log console (sclplm) keeps the earliest boot messages in a file
        assert _chardevs(dom) == [
            ("tcp", "sclp", "10003", "raw"),
            ("file", "sclplm", None, None),
        ]
    else:  # one port for both roles: virtlogd keeps the log of the TCP serial
        assert _chardevs(dom) == [("tcp", "isa-serial", "10003", "raw")]
        assert dom.devices.serials[0].log_file is not None
    tcp = next(d for d in [*dom.devices.serials, *dom.devices.consoles] if d.type == "tcp")
    assert (tcp.source_mode, tcp.source_host) == ("bind", "127.0.0.1")
    # the guest sees the same device: the test image's shell starts on it as before
    assert dom.os.cmdline is not None
    assert f"zcompute.tty={TTY[arch]}" in dom.os.cmdline.split()


@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_without_serial_tcp_or_without_a_port_the_console_stays_a_pty(arch: str) -> None:
    off = dataclasses.replace(TCP_CONFIG, serial_tcp="")
    for dom in (_domain(arch, off, 10003), _domain(arch, TCP_CONFIG, None)):
        kinds = {t for t, *_ in _chardevs(dom)}
        assert "tcp" not in kinds
        assert "pty" in kinds


# -- ports, through the driver on test:///default ----------------------------------------------


def _free_range(size: int) -> tuple[int, int]:
    """A range of ports on 127.0.0.1 of which the first is free now (as the kernel picks)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        first = int(probe.getsockname()[1])
    first = min(first, 65535 - size)
    return first, first + size - 1


@pytest.fixture
def drv(test_driver: ComputeDriver, monkeypatch: pytest.MonkeyPatch) -> ComputeDriver:
    monkeypatch.setattr(_serialports, "_claims", {})  # this test's claims only
    first, last = _free_range(8)
    ctx = test_driver._ctx
    ctx.host_view = HOST
    ctx.config = dataclasses.replace(ctx.config, serial_tcp=f"127.0.0.1:{first}-{last}")
    return test_driver


@pytest.fixture
def image(drv: ComputeDriver, tmp_path: Path) -> Image:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"not really a kernel")
    return drv.images.import_kernel("tcp-kernel", kernel, None, None, "x86_64")


def _listening(dom_xml: str) -> list[str | None]:
    dom = Domain.from_xml(dom_xml)
    return [d.source_service for d in dom.devices.serials if d.type == "tcp"]


def _endpoints(drv: ComputeDriver) -> tuple[int, int]:
    endpoints = drv._ctx.config.serial_tcp_endpoints
    assert endpoints is not None
    return endpoints.first, endpoints.last


def test_each_guest_gets_its_own_port_which_every_later_plan_reuses(
    drv: ComputeDriver, image: Image
) -> None:
    first, _last = _endpoints(drv)
    one = drv.spawn("tcp-one", image, FLAVOR)
    two = drv.spawn("tcp-two", image, FLAVOR)
    assert (one.serial_port, two.serial_port) == (first, first + 1)
    assert drv.db.get_instance(one.uuid).serial_port == first  # recorded with the instance
    assert _listening(drv.domain_xml(one.uuid)) == [str(first)]
    drv.reboot(one.name, hard=True)  # a new definition from the record: the same port
    drv.power_off(two.name)
    drv.power_on(two.name)
    assert _listening(drv.domain_xml(one.uuid)) == [str(first)]
    assert _listening(drv.domain_xml(two.uuid)) == [str(first + 1)]
    drv.destroy(one.name)  # its port is free again, once this process's claim on it ends
    assert drv.spawn("tcp-three", image, FLAVOR).serial_port == first + 2
    _serialports._claims.clear()
    assert drv.spawn("tcp-four", image, FLAVOR).serial_port == first


def test_ports_handed_out_but_not_recorded_yet_are_not_handed_out_twice(
    drv: ComputeDriver,
) -> None:
    """Concurrent spawns plan before either records its port (Nova runs them in threads)."""
    first, _last = _endpoints(drv)
    endpoints = drv._ctx.config.serial_tcp_endpoints
    assert endpoints is not None
    taken = [allocate_serial_port(drv.db, endpoints) for _ in range(3)]
    assert taken == [first, first + 1, first + 2]
    assert drv.db.serial_ports() == {}


def test_a_port_something_listens_on_is_skipped(drv: ComputeDriver, image: Image) -> None:
    first, _last = _endpoints(drv)
    with socket.socket() as other:  # another program (or another data dir's guest)
        other.bind(("127.0.0.1", first))
        other.listen()
        assert port_in_use("127.0.0.1", first)
        assert drv.spawn("tcp-skip", image, FLAVOR).serial_port == first + 1
    assert not port_in_use("127.0.0.1", first)


def test_a_recorded_port_is_never_given_to_a_second_instance(
    drv: ComputeDriver, image: Image
) -> None:
    inst = drv.spawn("tcp-taken", image, FLAVOR)
    twin = dataclasses.replace(inst, uuid=new_uuid(), name="tcp-twin", nics=())
    with pytest.raises(Conflict, match=rf"serial console port {inst.serial_port} is recorded"):
        drv.db.add_instance(twin)
    other = drv.spawn("tcp-other", image, FLAVOR)
    assert inst.serial_port is not None
    with pytest.raises(Conflict, match=rf"port {inst.serial_port} is recorded for another"):
        drv.db.set_serial_port(other.uuid, inst.serial_port)


def test_a_full_range_is_a_conflict_naming_it(drv: ComputeDriver, image: Image) -> None:
    first, _last = _endpoints(drv)
    drv._ctx.config = dataclasses.replace(drv._ctx.config, serial_tcp=f"127.0.0.1:{first}-{first}")
    drv.spawn("tcp-only", image, FLAVOR)
    endpoints = drv._ctx.config.serial_tcp_endpoints
    assert endpoints is not None
    with pytest.raises(
        Conflict, match=rf"no free serial console port in 127.0.0.1:{first}-{first}"
    ):
        allocate_serial_port(drv.db, endpoints)
    with pytest.raises(Conflict, match="widen serial_tcp's port range"):
        drv.spawn("tcp-none", image, FLAVOR)
    assert [i.name for i in drv.db.list_instances()] == ["tcp-only"]  # nothing half-made


def test_a_guest_made_before_serial_tcp_gets_a_port_on_its_next_definition(
    drv: ComputeDriver, image: Image
) -> None:
    first, last = _endpoints(drv)
    on = drv._ctx.config
    drv._ctx.config = dataclasses.replace(on, serial_tcp="")
    inst = drv.spawn("tcp-later", image, FLAVOR)
    assert inst.serial_port is None
    assert _listening(drv.domain_xml(inst.uuid)) == []
    drv._ctx.config = on
    drv.reboot(inst.name, hard=True)
    assert drv.db.get_instance(inst.uuid).serial_port == first
    assert _listening(drv.domain_xml(inst.uuid)) == [str(first)]
    # turned off again: a pty, with the port kept for when it comes back
    drv._ctx.config = dataclasses.replace(on, serial_tcp="")
    drv.reboot(inst.name, hard=True)
    assert _listening(drv.domain_xml(inst.uuid)) == []
    assert drv.db.get_instance(inst.uuid).serial_port == first
    # a range that no longer holds the recorded port: a new one from the new range
    drv._ctx.config = dataclasses.replace(on, serial_tcp=f"127.0.0.1:{first + 2}-{last}")
    drv.reboot(inst.name, hard=True)
    assert drv.db.get_instance(inst.uuid).serial_port == first + 2


def test_the_serial_console_names_the_endpoint_and_open_console_refuses_it(
    drv: ComputeDriver, image: Image
) -> None:
    inst = drv.spawn("tcp-endpoint", image, FLAVOR)
    console = drv.get_serial_console(inst.name)
    assert console.tcp
    assert (console.host, console.port, console.pty) == ("127.0.0.1", inst.serial_port, None)
    with pytest.raises(InvalidState, match=rf"TCP endpoint .*127\.0\.0\.1 port {inst.serial_port}"):
        drv.open_console(inst.name)
