"""libvirtd restarts under a running driver: it reconnects, and guests that should run do.

This test stops the libvirtd that ``scripts/setup-host`` started (``scripts/restart-libvirtd``)
and starts it again. Guests keep running meanwhile, but every libvirt call made while libvirtd
is down fails, so tests running in parallel could fail for no fault of theirs: it runs only
when it is the only test running (``make test`` gives it its own pytest invocation; under
``pytest -n N`` it is skipped with that reason).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from zcompute.driver import ComputeDriver
from zcompute.model import InstanceState
from zcompute.virt import PowerState

from .conftest import TINY, imported_test_image
from .lifecycle_support import BOOTED, LogWatch, open_shell, qemu_pid, run, timed

RESTART = Path(__file__).resolve().parents[2] / "scripts" / "restart-libvirtd"
RUNNING = InstanceState.RUNNING

pytestmark = pytest.mark.skipif(
    int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1,
    reason="restarts libvirtd, which other tests running in parallel would notice; "
    "run it alone: pytest tests/e2e/test_lifecycle_restart.py (make test does)",
)


def _libvirtd(action: str) -> None:
    subprocess.run([str(RESTART), action], check=True, timeout=90)


@pytest.fixture
def libvirtd_comes_back() -> Iterator[None]:
    """Whatever happens in the test, libvirtd runs again for the tests after it."""
    yield
    _libvirtd("start")


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, f"process {pid} did not exit"
        time.sleep(0.05)


def _as_after_a_host_boot(name: str, pid: int) -> None:
    """Make guest ``name`` look to libvirtd as after a host boot (libvirtd must be down).

    A host boot ends QEMU and empties ``/run``, where libvirtd keeps the state of running
    guests; it then reports the guest shut off for an "unknown" reason. (A QEMU that merely
    died is reported "crashed", and zcompute does not restart crashed guests by itself.)
    """
    os.kill(pid, signal.SIGKILL)  # our guest's QEMU
    _wait_gone(pid)
    for suffix in (".xml", ".pid"):
        Path(f"/run/libvirt/qemu/{name}{suffix}").unlink(missing_ok=True)


def test_the_driver_reconnects_and_restores_guests_that_should_run(
    driver: ComputeDriver, guest_name: str, libvirtd_comes_back: None
) -> None:
    steady, lost = f"{guest_name}-steady", f"{guest_name}-lost"
    with ThreadPoolExecutor(2) as pool:  # operations on different guests run in parallel
        boots = [
            pool.submit(driver.spawn, steady, imported_test_image(driver, "s390x"), TINY.name,
                        wait_for=BOOTED),
            pool.submit(driver.spawn, lost, imported_test_image(driver, "x86_64"), TINY.name,
                        wait_for=BOOTED),
        ]  # fmt: skip
        for boot in boots:
            boot.result()
    steady_pid, lost_pid = qemu_pid(steady), qemu_pid(lost)
    lost_uuid = driver.get_instance(lost).uuid

    with LogWatch(driver.console_log_path(lost)) as lost_log:
        with timed("host", "libvirtd stop"):
            _libvirtd("stop")
        _as_after_a_host_boot(lost, lost_pid)
        with timed("host", "libvirtd start"):
            _libvirtd("start")

        with timed("host", "first call after the restart (reconnect)"):
            assert driver.get_info(steady).state is RUNNING
        assert qemu_pid(steady) == steady_pid  # the same QEMU: the guest never noticed
        stopped = driver.live_state(lost_uuid)
        assert (stopped.state, stopped.reason) == (PowerState.SHUTOFF, "unknown")
        assert driver.get_instance(lost).state is RUNNING  # the record keeps the intent

        with timed("host", "resume_state_on_host_boot"):
            report = driver.resume_state_on_host_boot()
        assert report.started == (lost,)
        assert steady in report.running
        assert report.failed == ()
        lost_log.wait(BOOTED)  # booted again

    assert [driver.get_info(n).state for n in (steady, lost)] == [RUNNING, RUNNING]
    assert [driver.get_instance(n).state for n in (steady, lost)] == [RUNNING, RUNNING]
    # The reconnected driver works as before: operations, events and the console.
    driver.pause(steady)
    assert driver.get_instance(steady).state is InstanceState.PAUSED
    driver.unpause(steady)
    with open_shell(driver, steady) as shell:
        assert run(shell, "echo zc-$((6*7))") == "zc-42"
