"""Host B (``scripts/second-host``): a second libvirtd on this machine that is a hypervisor host
of its own, and raw libvirt live migration of a real s390x guest from host A to it and back.

The two hosts share everything but libvirt's own directories and the hostname, so a guest's
files in zcompute's data directory are on storage both hosts see, as shared storage between
two machines would be. libvirt cannot know that (its shared-storage check knows NFS, Ceph and
the like, not "the same local filesystem"), so the migrations say ``VIR_MIGRATE_UNSAFE``: safe
here, because both QEMUs read and write the disk through the one page cache of this machine.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from lxml import etree

from zcompute.model import InstanceState
from zcompute.virt import ConsoleStream, Hypervisor

from .conftest import (
    SECOND_HOST,
    TINY,
    SecondHost,
    _remove_domain,
    imported_test_image,
    own_driver,
    second_host_command,
    wait_for_text,
)
from .lifecycle_support import BOOTED, open_shell, qemu_pid, run, timed, wait_for_shell

HOSTNAME_B = "zcompute-hostb"
LIVE = (
    libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    | libvirt.VIR_MIGRATE_UNSAFE  # see the module docs
)
# The migration stream over loopback: by default the destination names its hostname, which
# resolves to nothing here (zcompute-hostb exists only in host B's UTS namespace).
OVER_LOOPBACK = {libvirt.VIR_MIGRATE_PARAM_URI: "tcp://127.0.0.1"}


@pytest.fixture
def on_host_b(second_host: SecondHost) -> Iterator[list[str]]:
    """Guests named here are destroyed and undefined on host B after the test, wherever a
    failure left them (host A's guests are their drivers' to remove)."""
    names: list[str] = []
    yield names
    conn = libvirt.open(second_host.uri)
    try:
        for name in names:
            with contextlib.suppress(libvirt.libvirtError):
                _remove_domain(conn.lookupByName(name))
    finally:
        conn.close()


def _host_uuid(conn: libvirt.virConnect) -> str:
    uuid = etree.fromstring(conn.getCapabilities().encode()).findtext("host/uuid")
    assert uuid, "the capabilities name no host UUID"
    return uuid


def _status_code() -> int:
    return subprocess.run([str(SECOND_HOST), "status"], capture_output=True, timeout=60).returncode


def test_host_b_is_a_host_of_its_own(
    second_host: SecondHost, hypervisor: Hypervisor, guest_name: str, on_host_b: list[str]
) -> None:
    assert _status_code() == 0
    virsh = subprocess.run(
        ["virsh", "-q", "-c", second_host.uri, "hostname"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert virsh.stdout.strip() == HOSTNAME_B
    conn_a, conn_b = hypervisor.conn, libvirt.open(second_host.uri)
    try:
        assert conn_a.getHostname() != HOSTNAME_B
        # libvirt refuses to migrate between two hosts with one UUID
        assert _host_uuid(conn_b) != _host_uuid(conn_a)
        pid_b = int(second_host_command("pid"))
        assert pid_b != int(Path("/run/libvirtd.pid").read_text())
        assert int((second_host.root / "run" / "libvirtd.pid").read_text()) == pid_b
        # in the network namespace both share, host B's networks' bridges would clash
        assert conn_b.listAllNetworks() == []
        assert "zcompute-isolated" in [net.name() for net in conn_a.listAllNetworks()]

        with own_driver() as drv_a, own_driver(uri=second_host.uri) as drv_b:
            on_host_b.append(f"{guest_name}-b")
            a = drv_a.spawn(f"{guest_name}-a", imported_test_image(drv_a, "s390x"), TINY.name)
            b = drv_b.spawn(f"{guest_name}-b", imported_test_image(drv_b, "s390x"), TINY.name)
            names_a = {dom.name() for dom in conn_a.listAllDomains()}
            names_b = {dom.name() for dom in conn_b.listAllDomains()}
            assert a.name in names_a
            assert a.name not in names_b
            assert b.name in names_b
            assert b.name not in names_a
            # its QEMU's pid file is in host B's /run/libvirt, not in host A's
            assert (second_host.libvirt_run / "qemu" / f"{b.name}.pid").is_file()
            assert not Path(f"/run/libvirt/qemu/{b.name}.pid").exists()
    finally:
        conn_b.close()


def _migrate(
    mode: str, source: libvirt.virConnect, dest: libvirt.virConnect, dest_uri: str, name: str
) -> float:
    """Live-migrate guest ``name``; returns the seconds it took. ``direct``: this client drives
    both libvirtds; ``p2p``: the source's libvirtd connects to ``dest_uri`` itself."""
    dom = source.lookupByName(name)
    start = time.monotonic()
    if mode == "direct":
        dom.migrate3(dest, OVER_LOOPBACK, LIVE)
    else:
        dom.migrateToURI3(dest_uri, OVER_LOOPBACK, LIVE | libvirt.VIR_MIGRATE_PEER2PEER)
    return time.monotonic() - start


def _runs_only_on(here: libvirt.virConnect, there: libvirt.virConnect, name: str) -> None:
    dom = here.lookupByName(name)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert dom.isPersistent()
    with pytest.raises(libvirt.libvirtError) as gone:
        there.lookupByName(name)
    assert gone.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN


def _answers(hv: Hypervisor, uuid: str, log: Path, host: str) -> float:
    """The guest answers on its interactive console on ``host`` and writes into the same log
    file there; returns its uptime in seconds."""
    with ConsoleStream(hv, uuid, None) as shell:
        wait_for_shell(shell)
        uptime = run(shell, f"echo ZCTEST-NOW-ON-{host} >/dev/console; cut -d' ' -f1 /proc/uptime")
    wait_for_text(log, f"ZCTEST-NOW-ON-{host}", timeout=10)
    return float(uptime)


@pytest.mark.parametrize("mode", ["direct", "p2p"])
def test_live_migration_to_host_b_and_back(
    second_host: SecondHost,
    hypervisor: Hypervisor,
    guest_name: str,
    on_host_b: list[str],
    mode: str,
) -> None:
    hv_b = Hypervisor(second_host.uri)
    try:
        with own_driver() as drv:
            inst = drv.spawn(
                guest_name,
                imported_test_image(drv, "s390x"),
                TINY.name,
                wait_for=BOOTED,
                timeout=120,
            )
            on_host_b.append(inst.name)
            log = drv.console_log_path(inst.name)
            uptime = _answers(hypervisor, inst.uuid, log, "A")

            with timed("s390x", f"live-migration-a-to-b-{mode}"):
                there = _migrate(mode, hypervisor.conn, hv_b.conn, second_host.uri, inst.name)
            _runs_only_on(hv_b.conn, hypervisor.conn, inst.name)
            assert (second_host.libvirt_run / "qemu" / f"{inst.name}.pid").is_file()
            uptime_b = _answers(hv_b, inst.uuid, log, "B")
            assert uptime_b > uptime

            with timed("s390x", f"live-migration-b-to-a-{mode}"):
                back = _migrate(mode, hv_b.conn, hypervisor.conn, second_host.a_uri, inst.name)
            _runs_only_on(hypervisor.conn, hv_b.conn, inst.name)
            assert qemu_pid(inst.name) > 0
            assert _answers(hypervisor, inst.uuid, log, "A-AGAIN") > uptime_b
            # one boot all along, and the destinations appended to its log
            assert log.read_text(errors="replace").count("Linux version") == 1
            assert drv.get_info(inst.name).state == InstanceState.RUNNING
            print(f"s390x live migration ({mode}): A -> B {there:.2f} s, B -> A {back:.2f} s")
    finally:
        hv_b.close()


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, f"process {pid} did not exit"
        time.sleep(0.05)


@pytest.mark.skipif(
    int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1,
    reason="stops host B, which other tests running in parallel may be using; run it alone: "
    "pytest tests/e2e/test_second_host.py (make test does)",
)
def test_stop_and_start_leave_host_a_alone(
    second_host: SecondHost, hypervisor: Hypervisor, guest_name: str, on_host_b: list[str]
) -> None:
    libvirtd_a = Path("/run/libvirtd.pid").read_text().strip()
    with own_driver() as drv_a, own_driver(uri=second_host.uri) as drv_b:
        on_host_b.append(f"{guest_name}-b")
        a = drv_a.spawn(
            f"{guest_name}-a", imported_test_image(drv_a, "s390x"), TINY.name, wait_for=BOOTED
        )
        b = drv_b.spawn(
            f"{guest_name}-b", imported_test_image(drv_b, "s390x"), TINY.name, wait_for=BOOTED
        )
        qemu_a = qemu_pid(a.name)
        qemu_b = int((second_host.libvirt_run / "qemu" / f"{b.name}.pid").read_text())
        try:
            start = time.monotonic()
            second_host_command("stop")
            stopped = time.monotonic() - start
            _wait_gone(qemu_b)  # host B's guest was destroyed
            assert _status_code() == 1
            with pytest.raises(libvirt.libvirtError):
                libvirt.open(second_host.uri)
            # host A: the same libvirtd, its guest still running in the same QEMU
            assert Path("/run/libvirtd.pid").read_text().strip() == libvirtd_a
            assert Path(f"/proc/{libvirtd_a}").exists()
            assert qemu_pid(a.name) == qemu_a
            assert drv_a.get_info(a.name).state == InstanceState.RUNNING
            with open_shell(drv_a, a.name) as shell:
                assert run(shell, "echo alive-$((40+2))") == "alive-42"
        finally:
            start = time.monotonic()
            second_host_command("start")
            started = time.monotonic() - start
        assert _status_code() == 0
        pid_b = second_host_command("pid")
        second_host_command("start")  # running already: nothing changes
        assert second_host_command("pid") == pid_b
        # host B's guest is still defined there, shut off by the stop
        assert drv_b.get_info(b.name).state == InstanceState.SHUTOFF
        print(f"second-host stop {stopped:.2f} s (one guest running), start {started:.2f} s")
