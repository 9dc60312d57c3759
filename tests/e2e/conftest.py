"""Fixtures for end-to-end tests: a real libvirtd (qemu:///system), real QEMU, real guests.

Every guest a test creates carries the ``zctest-`` prefix and is destroyed and undefined by the
fixture that made it, also when the test fails. Leftovers of an interrupted earlier run (same
prefix) are swept once per session.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import libvirt
import pytest

from tests.e2e.feature_markers import check_collected, verify_exercised
from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.errors import HypervisorUnavailable
from zcompute.model import Flavor
from zcompute.testimage import TestImage, build_test_image, import_test_image
from zcompute.virt import Hypervisor

TEST_PREFIX = "zctest-"
DATA_DIR = Path("/var/lib/zcompute")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
    check_collected(items)  # the feature markers read as the support matrix reads them


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """A test marked ``@pytest.mark.feature`` fails unless it really exercised each feature on
    a guest of the architecture it claims (the support matrix's "tested on" counts on it)."""
    with verify_exercised(item):
        return (yield)


@pytest.fixture(scope="session")
def hypervisor() -> Iterator[Hypervisor]:
    hv = Hypervisor("qemu:///system")
    try:
        hv.capabilities()
    except HypervisorUnavailable as err:
        pytest.fail(
            f"{err} (end-to-end tests need libvirtd: run 'make test' or scripts/setup-host)"
        )
    _sweep_leftovers(hv.conn)
    yield hv
    hv.close()


SECOND_HOST = Path(__file__).resolve().parents[2] / "scripts" / "second-host"


@dataclasses.dataclass(frozen=True)
class SecondHost:
    """Host B: a second libvirtd on this machine that is a host of its own (its own hostname,
    host UUID, libvirt state and configuration), started by ``scripts/second-host``."""

    uri: str  # reaches host B from here, also from host A's libvirtd (peer-to-peer A -> B)
    a_uri: str  # reaches host A from inside host B (peer-to-peer B -> A)
    root: Path  # its state root: run/, lib/, cache/, log/, etc/

    @property
    def libvirt_run(self) -> Path:
        """What host B's libvirtd and guests see as /run/libvirt (its guests' pid files)."""
        return self.root / "run" / "libvirt"


def second_host_command(action: str, timeout: float = 120) -> str:
    """Run ``scripts/second-host ACTION``; returns its output, fails the test if it fails."""
    done = subprocess.run(
        [str(SECOND_HOST), action], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/second-host {action} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.strip()


@pytest.fixture(scope="session")
def second_host(hypervisor: Hypervisor) -> SecondHost:
    """Host B, started if it is not running. Never stopped here: other pytest-xdist workers
    may still use it (``make test`` stops it when all tests are done)."""
    second_host_command("start")
    uri = second_host_command("uri")
    socket = parse_qs(urlsplit(uri).query)["socket"][0]
    host = SecondHost(uri, second_host_command("a-uri"), Path(socket).parents[2])
    conn = libvirt.open(uri)
    try:
        _sweep_leftovers(conn)
    finally:
        conn.close()
    return host


def _sweep_leftovers(conn: libvirt.virConnect) -> None:
    """Remove test guests of earlier runs that died before cleaning up (never a live run's)."""
    hold_run_lock()
    for dom in conn.listAllDomains():
        match = _TEST_NAME.match(dom.name())
        if match and not _run_alive(match.group(1)):
            _remove_domain(dom)


# Every run holds a shared lock on its own lock file while it lives; a guest whose run's lock
# nobody holds is a leftover. Names carry the run id: zctest-<run id>-<test>-<random>.
_LOCK_DIR = Path("/run/zcompute-tests")
_TEST_NAME = re.compile(r"^zctest-([0-9a-f]{6})-")
_run_lock: list[object] = []


def hold_run_lock() -> None:
    """Mark this run alive (a shared lock held until the process exits): another session's
    sweep never removes its guests. Every test that makes guests holds it, also those that
    use no pytest fixture (Nova's harness)."""
    if _run_lock:
        return
    _LOCK_DIR.mkdir(exist_ok=True)
    handle = (_LOCK_DIR / f"{RUN_ID}.lock").open("a")
    fcntl.flock(handle, fcntl.LOCK_SH)
    _run_lock.append(handle)  # held until this process exits


def _run_alive(run_id: str) -> bool:
    path = _LOCK_DIR / f"{run_id}.lock"
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        path.unlink(missing_ok=True)
        return False


def _remove_domain(dom: libvirt.virDomain) -> None:
    try:
        if dom.isActive():
            dom.destroy()
    except libvirt.libvirtError:
        pass
    with contextlib.suppress(libvirt.libvirtError):
        dom.undefineFlags(
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
        )


# One id for the whole test run, shared by all pytest-xdist workers (xdist exports it), so a
# worker never sweeps a guest another worker of the same run is still using.
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex)[:6]


@pytest.fixture
def guest_name(request: pytest.FixtureRequest) -> str:
    label = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:24]
    return f"{TEST_PREFIX}{RUN_ID}-{label}-{uuid.uuid4().hex[:4]}"


@pytest.fixture
def transient_guests(hypervisor: Hypervisor) -> Iterator[list[str]]:
    """Names appended here are destroyed and undefined after the test."""
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(libvirt.libvirtError):
            _remove_domain(hypervisor.conn.lookupByName(name))


@pytest.fixture
def guest_dir(guest_name: str) -> Iterator[Path]:
    """A directory for one test guest's files, readable by QEMU, removed afterwards."""
    path = DATA_DIR / "tests" / guest_name
    path.mkdir(parents=True, mode=0o755)
    path.parent.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


_IMAGES: dict[str, TestImage] = {}


def get_test_image(arch: str) -> TestImage:
    """The test image for ``arch`` (built once per process, cached on disk across runs)."""
    if arch not in _IMAGES:
        _IMAGES[arch] = build_test_image(arch, DATA_DIR)
    return _IMAGES[arch]


def wait_for_text(path: Path, needle: str, timeout: float = 60.0) -> str:
    """Poll a console log file until it contains ``needle``; returns the whole text."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_text(errors="replace")
            if needle in text:
                return text
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not in {path} after {timeout} s; it holds:\n{text[-3000:]}")


TINY = Flavor("zctest-tiny", 1, 256, 1)


@contextlib.contextmanager
def own_driver(**settings: Any) -> Iterator[ComputeDriver]:
    """A driver with a data directory of its own (state DB, images, instances), removed with
    its guests afterwards; ``settings`` are further :class:`Config` fields."""
    hold_run_lock()
    data = DATA_DIR / "tests" / f"driver-{RUN_ID}-{uuid.uuid4().hex[:6]}"
    # volumes of the tests live in their guest_dir folders, beside the data directories
    config = Config(
        virt_type="qemu", data_dir=data, volume_dirs=str(DATA_DIR / "tests"), **settings
    )
    drv = ComputeDriver(config)
    drv.init_host()
    drv.db.add_flavor(TINY)
    try:
        yield drv
    finally:
        for inst in drv.db.list_instances():
            drv.destroy(inst.uuid)
        drv.close()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def driver(hypervisor: Hypervisor) -> Iterator[ComputeDriver]:
    """A driver with its own data directory per test module."""
    with own_driver() as drv:
        yield drv


def imported_test_image(driver: ComputeDriver, arch: str) -> str:
    """The test image of ``arch`` imported into ``driver``'s image store; returns its name."""
    return import_test_image(driver.images, get_test_image(arch)).name
