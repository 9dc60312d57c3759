"""Issue 18's acceptance, part 1: ``make cloud`` gives a cloud the OpenStack client can use.

A server boots the emulated s390x test image with a port on the cloud's network and shows
the kernel's early messages in its console log; a server live-migrates between the two
zcompute hosts; deleting leaves nothing on either host; every listener of the cloud is on
127.0.0.1; ``cloud-down`` stops everything and ``up`` brings it back (run last).

The migrated server has a port too: the two hosts share this machine's network namespace, so
on the host that sees its source's tap device the guest's tap takes the other name (a trailing
``_``, zcompute's migration; docs/lifecycle.md) and goes back to its own on the way back.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid

import libvirt
import pytest

from tests.cloud.conftest import STATE, Cloud, cloudctl

pytestmark = pytest.mark.cloud

NETWORK = "zcloud-net"
HOST_A, HOST_B = "zc-host-a", "zc-host-b"
HOST_B_URI = "qemu+unix:///system?socket=/var/lib/zcompute-hostb/run/libvirt/libvirt-sock"
PORTS = (3306, 4369, 5672, 25672, 5000, 9292, 8778, 9696, 8774)


def _name(kind: str) -> str:
    return f"zct-{kind}-{uuid.uuid4().hex[:6]}"


def _domains(uri: str) -> set[str]:
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError:
        return set()
    try:
        return {d.name() for d in conn.listAllDomains()}
    finally:
        conn.close()


def _leftovers(instance_name: str, taps: list[str]) -> list[str]:
    found = [f"domain on {uri}" for uri in ("qemu:///system", HOST_B_URI)
             if instance_name in _domains(uri)]  # fmt: skip
    for tap in taps:
        if os.path.exists(f"/sys/class/net/{tap}"):
            found.append(f"tap {tap}")
    return found


def test_boot_s390x_console_and_delete(cloud: Cloud) -> None:
    name = _name("boot")
    started = time.monotonic()
    server = cloud.run(
        "server", "create", "--image", "s390x-test", "--flavor", "m1.tiny",
        "--network", NETWORK, "--wait", name, "-f", "json",
    )  # fmt: skip
    active = time.monotonic() - started
    print(f"\nserver create -> ACTIVE {active:.1f} s (cloud up in {cloud.up_seconds:.1f} s)")
    try:
        assert server["status"] == "ACTIVE"
        text = cloud.console_until(name, "Linux version")
        assert "s390x" in text
        ports = cloud.run("port", "list", "--server", server["id"], "-f", "json", "--long")
        assert len(ports) == 1
        port = cloud.run("port", "show", ports[0]["ID"], "-f", "json")
        assert port["binding_vif_type"] == "tap"
        assert port["status"] == "ACTIVE"
        tap = f"tap{port['id'][:11]}"
        assert os.path.exists(f"/sys/class/net/{tap}")
    finally:
        cloud.run("server", "delete", "--wait", name)
    cloud.wait_deleted(name)
    assert _leftovers(server["OS-EXT-SRV-ATTR:instance_name"], [tap]) == []
    assert cloud.run("port", "list", "--device-id", server["id"], "-f", "json") == []


def test_live_migration_between_the_two_hosts(cloud: Cloud) -> None:
    name = _name("mig")
    server = cloud.run(
        "server", "create", "--image", "s390x-test", "--flavor", "m1.tiny",
        "--network", NETWORK, "--availability-zone", f"nova:{HOST_A}", "--wait", name,
        "-f", "json",
    )  # fmt: skip
    ports = cloud.run("port", "list", "--server", server["id"], "-f", "json")
    tap = f"tap{ports[0]['ID'][:11]}"
    try:
        assert server["OS-EXT-SRV-ATTR:host"] == HOST_A
        cloud.console_until(name, "Linux version")
        for dest, here, gone in ((HOST_B, f"{tap}_", tap), (HOST_A, tap, f"{tap}_")):
            started = time.monotonic()
            cloud.run("server", "migrate", "--live-migration", "--host", dest, "--wait", name,
                      microversion="2.30")  # fmt: skip
            moved = cloud.server(name)
            print(f"\nlive migration -> {dest} {time.monotonic() - started:.1f} s")
            assert moved["OS-EXT-SRV-ATTR:host"] == dest
            assert moved["status"] == "ACTIVE"
            other = "qemu:///system" if dest == HOST_B else HOST_B_URI
            assert server["OS-EXT-SRV-ATTR:instance_name"] not in _domains(other)
            assert os.path.exists(f"/sys/class/net/{here}")
            assert not os.path.exists(f"/sys/class/net/{gone}")
    finally:
        cloud.run("server", "delete", "--wait", name)
    cloud.wait_deleted(name)
    assert _leftovers(server["OS-EXT-SRV-ATTR:instance_name"], [tap, f"{tap}_"]) == []


def _listeners() -> list[tuple[str, int]]:
    """(local address, pid) of every TCP listener on the machine."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        local = line.split()[3]
        for pid in re.findall(r"pid=(\d+)", line):
            found.append((local, int(pid)))
    return found


def _cloud_groups() -> set[int]:
    """The process groups the supervisor made: one per service, led by its first pid."""
    import json

    status = json.loads((STATE / "run/status.json").read_text())
    return {s["pid"] for s in status["steps"].values() if s.get("pid")}


def test_every_listener_is_on_loopback(cloud: Cloud) -> None:
    groups = _cloud_groups()
    ours = []
    for local, pid in _listeners():
        try:
            if os.getpgid(pid) in groups:
                ours.append(local)
        except ProcessLookupError:
            continue
    assert ours, "no listener of the cloud found"
    # epmd always adds IPv6's loopback to the addresses it is given: loopback too
    assert [a for a in ours if not a.startswith(("127.0.0.1:", "[::1]:4369"))] == []


def test_supervisor_restarts_a_service_that_dies(cloud: Cloud) -> None:
    import json
    import signal

    def conductor() -> dict[str, object]:
        status = json.loads((STATE / "run/status.json").read_text())
        return dict(status["steps"]["nova-conductor"])

    before = conductor()
    os.killpg(int(str(before["pid"])), signal.SIGKILL)  # the group the supervisor made
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = conductor()
        if now["pid"] != before["pid"] and now["state"] == "up":
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"nova-conductor not restarted: {conductor()}")
    assert int(str(now["restarts"])) == int(str(before["restarts"])) + 1
    # and the cloud works through the new conductor
    assert cloud.run("server", "list", "-f", "json") is not None


def test_down_stops_everything_and_up_comes_back(cloud: Cloud) -> None:
    groups = _cloud_groups()
    started = time.monotonic()
    done = cloudctl("down")
    assert done.returncode == 0, done.stderr
    print(f"\ncloud-down {time.monotonic() - started:.1f} s")
    left = [pid for pid in groups if os.path.exists(f"/proc/{pid}")]
    assert left == []
    listening = {int(local.rsplit(":", 1)[1]) for local, _ in _listeners()}
    assert listening.isdisjoint(PORTS)
    assert [n for n in _domains("qemu:///system") if n.startswith("zccloud-")] == []
    started = time.monotonic()
    done = cloudctl("up")
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"\nwarm up {time.monotonic() - started:.1f} s")
    hosts = cloud.run("compute", "service", "list", "--service", "nova-compute", "-f", "json")
    assert sorted(h["Host"] for h in hosts if h["State"] == "up") == [HOST_A, HOST_B]
