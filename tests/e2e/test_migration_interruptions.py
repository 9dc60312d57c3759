"""A migration interrupted after each of its steps ends with the guest on exactly one host.

Each case runs the real ``zcompute migrate`` with a fault injected after one step (an error,
SIGTERM or SIGKILL: see tests/e2e/test_interruptions.py), then the next command on each host
(``zcompute list``, which recovers what an interrupted command left). Then exactly one host
records the guest, with no task, and runs it (or has it stopped, offline); the other has no
record, no domain and no folder of it. The steps are checked against what the code reports
(a trace run), so a step added without a case here fails the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.errors import NotFound
from zcompute.virt import PowerState

from .conftest import DATA_DIR, RUN_ID, TEST_PREFIX, TINY, imported_test_image
from .iscsi_target import running_target
from .lifecycle_support import BOOTED

ZCOMPUTE = str(Path(sys.executable).with_name("zcompute"))
ACTIONS = ("raise", "term", "kill")
STEPS = {
    "live": [
        "incoming.recorded", "incoming.ready", "migrate.prepared", "migrate.moved",
        "migrate.finished", "destroy.secrets_removed", "destroy.files_removed",
    ],
    # the destination pulls the stopped guest (started paused there, its disks over NBD)
    "offline": [
        "incoming.recorded", "incoming.ready", "pull.prepared", "pull.moved",
        "migrate.finished", "destroy.secrets_removed", "destroy.files_removed",
    ],
}  # fmt: skip

pytestmark = pytest.mark.xdist_group("migration-interruptions")


class Hosts:
    """Host A and host B, each a data directory driven by ``zcompute`` commands."""

    def __init__(self, b_uri: str) -> None:
        base = DATA_DIR / "tests" / f"mig-int-{RUN_ID}-{uuidlib.uuid4().hex[:6]}"
        self.dirs = {"a": base / "a", "b": base / "b"}
        self.uris = {"a": "qemu:///system", "b": b_uri}
        self.drivers = {
            key: ComputeDriver(Config(virt_type="qemu", uri=self.uris[key], data_dir=path))
            for key, path in self.dirs.items()
        }
        for driver in self.drivers.values():
            driver.init_host()
            driver.db.add_flavor(TINY)
        self.image = imported_test_image(self.drivers["a"], "s390x")
        # host B has it already: an adoption's own interruptions are the image store's cases
        self.drivers["b"].images.adopt(self.drivers["a"].images.get(self.image))

    def run(self, host: str, *args: str, fault: str | None = None, trace: Path | None = None
            ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZCOMPUTE_")}
        if fault is not None:
            env["ZCOMPUTE_FAULT"] = fault
        if trace is not None:
            env["ZCOMPUTE_FAULT_TRACE"] = str(trace)
        command = [ZCOMPUTE, "--connect", self.uris[host], "--data-dir", str(self.dirs[host]),
                   "--virt-type", "qemu", *args]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)

    def migrate_args(self, name: str, to: str, offline: bool, *extra: str) -> list[str]:
        if offline:
            extra = ("--offline", *extra)
        return ["migrate", name, "--to", self.uris[to], "--to-data-dir", str(self.dirs[to]),
                *extra]  # fmt: skip

    def secrets(self, host: str, uuid: str) -> list[str]:
        """The libvirt secrets host ``host`` keeps for the guest (their usage names it)."""
        listed = subprocess.run(["virsh", "-c", self.uris[host], "secret-list"],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        return [line.split()[0] for line in listed.splitlines() if uuid in line]

    def where(self, uuid: str) -> str:
        """The one host that has the guest, after both hosts' next command; checks the other
        has nothing of it."""
        for host in ("a", "b"):
            done = self.run(host, "list", "--json")
            assert done.returncode == 0, done.stderr
        found = []
        for host, driver in self.drivers.items():
            try:
                inst = driver.get_instance(uuid)
            except NotFound:
                assert not driver.domains.exists(uuid), f"host {host}: a domain without record"
                assert not (driver.instances_dir / uuid).exists(), f"host {host}: a folder"
                continue
            assert inst.task is None, (host, inst.task)
            assert driver.domains.exists(uuid), f"host {host}: a record without domain"
            found.append(host)
        assert len(found) == 1, f"the guest is on {found}"
        return found[0]

    def close(self) -> None:
        for driver in self.drivers.values():
            for inst in driver.db.list_instances():
                driver.destroy(inst.uuid)
            driver.close()


@pytest.fixture(scope="module")
def hosts(second_host: Any) -> Iterator[Hosts]:
    made = Hosts(second_host.uri)
    yield made
    made.close()


@pytest.fixture(scope="module")
def guest(hosts: Hosts) -> str:
    """One s390x guest the cases move about; each case starts with it running on host A."""
    name = f"{TEST_PREFIX}{RUN_ID}-mig-int-{uuidlib.uuid4().hex[:6]}"
    done = hosts.run("a", "boot", name, "--image", hosts.image, "--flavor", TINY.name,
                     "--wait-console", BOOTED)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return name


def _home(hosts: Hosts, name: str, offline: bool, *extra: str) -> str:
    """The guest on host A again, running (or stopped for the offline cases); its uuid."""
    uuid = next(
        driver.get_instance(name).uuid
        for driver in hosts.drivers.values()
        if any(i.name == name for i in driver.db.list_instances())
    )
    if hosts.where(uuid) == "b":
        b = hosts.drivers["b"]
        live = b.domains.state(uuid) is PowerState.RUNNING
        assert hosts.run("b", *hosts.migrate_args(name, "a", not live, *extra)).returncode == 0
    a = hosts.drivers["a"]
    running = a.domains.state(uuid) is PowerState.RUNNING
    if offline and running:
        a.power_off(uuid, timeout=0)
    elif not offline and not running:
        a.power_on(uuid)
    return uuid


def _cases(kind: str) -> list[tuple[str, str]]:
    return [(step, action) for step in STEPS[kind] for action in ACTIONS]


@pytest.mark.parametrize(("step", "action"), _cases("live"))
def test_live_migration(hosts: Hosts, guest: str, step: str, action: str) -> None:
    _interrupted(hosts, guest, step, action, offline=False)


@pytest.mark.parametrize(("step", "action"), _cases("offline"))
def test_offline_migration(hosts: Hosts, guest: str, step: str, action: str) -> None:
    _interrupted(hosts, guest, step, action, offline=True)


def _interrupted(hosts: Hosts, guest: str, step: str, action: str, *, offline: bool) -> None:
    uuid = _home(hosts, guest, offline)
    done = hosts.run("a", *hosts.migrate_args(guest, "b", offline), fault=f"{step}:{action}")
    expected = {"raise": 1, "term": 143, "kill": -9}[action]
    assert done.returncode == expected, (step, action, done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    host = hosts.where(uuid)
    driver = hosts.drivers[host]
    state = driver.domains.state(uuid)
    assert state is (PowerState.SHUTOFF if offline else PowerState.RUNNING), (host, state)
    # the guest answers there: a pause and unpause, or a start and stop
    if not offline:
        driver.pause(uuid)
        driver.unpause(uuid)


def test_every_step_of_a_migration_has_its_cases(hosts: Hosts, guest: str, tmp_path: Path) -> None:
    seen = {}
    for kind in ("live", "offline"):
        _home(hosts, guest, offline=kind == "offline")
        trace = tmp_path / f"trace-{kind}"
        done = hosts.run("a", *hosts.migrate_args(guest, "b", kind == "offline"), trace=trace)
        assert done.returncode == 0, done.stderr
        seen[kind] = trace.read_text().split()
    assert seen == STEPS, repr(seen)


@pytest.fixture(scope="module")
def chap_guest(hosts: Hosts) -> Iterator[tuple[str, str]]:
    """A guest with a CHAP iSCSI volume (the target admits both hosts' initiators) and the
    migrate option that gives its password again; each case starts with it on host A."""
    folder = hosts.dirs["a"].parent / "iscsi"
    folder.mkdir(parents=True, exist_ok=True)
    password = folder / "chap"
    password.write_text("zc-int-chap-secret")
    password.chmod(0o600)
    with running_target(folder) as target:
        initiators = tuple(d.iscsi_initiator_name() for d in hosts.drivers.values())
        lun = target.export("int-chap", 16 << 20, chap=("zcint", password.read_text()),
                            initiator=initiators)  # fmt: skip
        name = f"{TEST_PREFIX}{RUN_ID}-mig-chap-{uuidlib.uuid4().hex[:6]}"
        done = hosts.run("a", "boot", name, "--image", hosts.image, "--flavor", TINY.name,
                         "--wait-console", BOOTED)  # fmt: skip
        assert done.returncode == 0, done.stderr
        hosts.drivers["a"].attach_volume_connection(name, lun.connection_info("zc-int-chap"))
        yield name, f"vdb={password}"
        for driver in hosts.drivers.values():  # before the target goes
            for inst in driver.db.list_instances():
                if inst.name == name:
                    driver.destroy(inst.uuid)


@pytest.mark.parametrize(("step", "action"), _cases("live"))
def test_live_migration_with_a_chap_volume(
    hosts: Hosts, chap_guest: tuple[str, str], step: str, action: str
) -> None:
    """The destination defines the volume's secret again: after each interruption the
    secret is on the host that has the guest, and only there."""
    name, chap = chap_guest
    uuid = _home(hosts, name, False, "--chap-password-file", chap)
    args = hosts.migrate_args(name, "b", False, "--chap-password-file", chap)
    done = hosts.run("a", *args, fault=f"{step}:{action}")
    expected = {"raise": 1, "term": 143, "kill": -9}[action]
    assert done.returncode == expected, (step, action, done.returncode, done.stderr)
    host = hosts.where(uuid)
    other = "b" if host == "a" else "a"
    assert len(hosts.secrets(host, uuid)) == 1, (step, action, host)
    assert hosts.secrets(other, uuid) == [], (step, action, other)
    assert hosts.drivers[host].domains.state(uuid) is PowerState.RUNNING
