"""libvirtd restarts under a running driver: it reconnects, and guests that should run do.

This test stops the libvirtd that ``scripts/setup-host`` started (``scripts/restart-libvirtd``)
and starts it again. Guests keep running meanwhile, but every libvirt call made while libvirtd
is down fails, so tests running in parallel could fail for no fault of theirs: it runs only
when it is the only test running (``make test`` gives it its own pytest invocation; under
``pytest -n N`` it is skipped with that reason).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid as uuidlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import HypervisorUnavailable
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


def _libvirtd_pid() -> int:
    """The pid of the libvirtd setup-host started (never one looked up by name)."""
    out = subprocess.run([str(RESTART), "pid"], capture_output=True, text=True, check=True)
    return int(out.stdout)


def _restarted_after(old_pid: int, timeout: float = 30.0) -> int:
    """Wait until the supervisor (subreaper or systemd) runs a new libvirtd; its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(subprocess.CalledProcessError, ValueError):
            pid = _libvirtd_pid()
            if pid != old_pid:
                return pid
        time.sleep(0.1)
    raise AssertionError(f"no new libvirtd {timeout} s after pid {old_pid} died")


def _qemu_started(name: str, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return qemu_pid(name)
        time.sleep(0.02)
    raise AssertionError(f"guest {name} never started")


def _booting(log: Path, timeout: float = 60.0) -> None:
    """Wait until the guest writes its log: the start call has returned, the kernel boots."""
    deadline = time.monotonic() + timeout
    while not (log.exists() and log.stat().st_size > 0):
        assert time.monotonic() < deadline, f"{log} stayed empty"
        time.sleep(0.02)


@pytest.mark.parametrize("phase", ["start", "boot"])
@pytest.mark.parametrize("signum", [signal.SIGABRT, signal.SIGKILL], ids=["abort", "kill"])
def test_a_crashing_libvirtd_is_restarted_and_strands_nothing(
    driver: ComputeDriver, guest_name: str, libvirtd_comes_back: None, signum: int, phase: str
) -> None:
    """libvirtd dies (as libvirtd 11.3 did on a console pty hang-up) under a running guest with
    an open console, and under a boot in flight: its supervisor starts it again, zcompute
    reconnects, the boot converges, the console goes on, nothing is orphaned.

    ``start``: libvirtd dies inside the start call (QEMU is there, its CPUs not yet running):
    that call fails, and the boot is undone once libvirtd is back. ``boot``: it dies while the
    guest boots: the boot waits for libvirtd and completes.
    """
    steady, booting = f"{guest_name}-steady", f"{guest_name}-booting"
    driver.spawn(steady, imported_test_image(driver, "s390x"), TINY.name, wait_for=BOOTED)
    steady_pid = qemu_pid(steady)
    shell = open_shell(driver, steady)
    old = _libvirtd_pid()
    uuid = str(uuidlib.uuid4())
    with ThreadPoolExecutor(1) as pool:
        boot = pool.submit(
            driver.spawn, booting, imported_test_image(driver, "x86_64"), TINY.name,
            wait_for=BOOTED, uuid=uuid,
        )  # fmt: skip
        _qemu_started(booting)
        if phase == "boot":
            _booting(driver.console_log_of(uuid))
        os.kill(old, signum)
        with timed("host", f"libvirtd back after {signal.Signals(signum).name}"):
            _restarted_after(old)
        outcome = boot.exception(timeout=120)

    if phase == "boot":  # the boot converged by completing once libvirtd was back
        assert outcome is None, outcome
        assert driver.get_info(booting).state is RUNNING
        assert driver.get_instance(booting).task is None
    else:  # it converged by being undone: a clean error, and nothing of it left
        assert isinstance(outcome, HypervisorUnavailable), outcome
        assert not getattr(outcome, "__notes__", None), outcome.__notes__  # rollback complete
        assert not driver.instance_exists(booting)
        assert driver.domains.uuid_of(booting) is None
        assert not driver.console_log_of(uuid).parent.exists()
    assert driver.get_info(steady).state is RUNNING
    assert qemu_pid(steady) == steady_pid  # the same QEMU: the guest never noticed
    with shell:  # the console opened before the crash goes on, on a new connection
        assert run(shell, "echo zc-$((6*7))") == "zc-42"
        assert shell.reopens == 1
    report = driver.init_host()
    assert report.interrupted_tasks == ()
    assert report.records_without_domain == ()
    assert not [n for n in report.unknown_domains if n.startswith(guest_name)]
    for inst in driver.db.list_instances():
        driver.destroy(inst.uuid)
    assert not [d for d in driver.hv.conn.listAllDomains() if d.name().startswith(guest_name)]
    assert not any(driver.instances_dir.iterdir())
    assert "restarted as pid" in _supervisor_log()


def _supervisor_log() -> str:
    """What the subreaper logged (it writes libvirtd's log file); systemd keeps its own."""
    path = Path("/var/log/zcompute/libvirtd.log")
    return path.read_text(errors="replace")[-20000:] if path.exists() else "restarted as pid"


def test_commands_exit_4_while_libvirtd_is_down_and_work_once_it_is_back(
    driver: ComputeDriver, guest_name: str, libvirtd_comes_back: None
) -> None:
    zcompute = Path(sys.executable).with_name("zcompute")
    data = ["--data-dir", str(driver.config.data_dir)]
    _libvirtd("stop")
    down = subprocess.run([str(zcompute), *data, "list"], capture_output=True, text=True)
    assert down.returncode == 4, down.stderr
    assert "libvirtd" in down.stderr
    assert len(down.stderr.strip().splitlines()) == 1  # one line, no traceback
    _libvirtd("start")
    back = subprocess.run([str(zcompute), *data, "list"], capture_output=True, text=True)
    assert back.returncode == 0, back.stderr


SPAWN_STEPS = ["spawn.recorded", "spawn.folder", "spawn.disk", "spawn.defined",
               "spawn.started", "spawn.booted"]  # fmt: skip


@pytest.mark.parametrize("step", SPAWN_STEPS)
def test_a_libvirtd_restart_at_each_step_of_spawn_leaves_no_unmanaged_domain(
    driver: ComputeDriver, guest_name: str, libvirtd_comes_back: None, step: str
) -> None:
    """``zcompute boot`` stops itself after ``step`` (SIGSTOP); libvirtd is killed and comes
    back; the boot goes on. Whether it then completes or fails, the next command leaves the
    guest either recorded and running or gone, never a domain zcompute does not know."""
    zcompute = Path(sys.executable).with_name("zcompute")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZCOMPUTE_")}
    env |= {"ZCOMPUTE_FAULT": f"{step}:stop", "ZCOMPUTE_VIRT_TYPE": "qemu"}
    data = ["--data-dir", str(driver.config.data_dir)]
    imported_test_image(driver, "s390x")
    boot = subprocess.Popen(
        [str(zcompute), *data, "boot", guest_name, "--image", "s390x-test", "--flavor",
         TINY.name, "--wait-console", BOOTED],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_stopped(boot.pid)
        old = _libvirtd_pid()
        os.kill(old, signal.SIGKILL)
        _restarted_after(old)
    finally:
        os.kill(boot.pid, signal.SIGCONT)
        _, err = boot.communicate(timeout=180)
    assert "Traceback" not in err, err
    listed = subprocess.run([str(zcompute), *data, "list", "--json"], env=env | {
        "ZCOMPUTE_FAULT": ""}, capture_output=True, text=True)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    uuid = driver.domains.uuid_of(guest_name)
    if boot.returncode == 0:  # it went on and completed
        assert uuid is not None
        assert driver.get_info(guest_name).state is RUNNING
        assert driver.get_instance(guest_name).task is None
        driver.destroy(guest_name)
    else:  # it failed cleanly and left nothing
        assert uuid is None, f"an unmanaged domain is left: {err}"
        assert not driver.instance_exists(guest_name)
    assert not [d for d in driver.hv.conn.listAllDomains() if d.name() == guest_name]


def _wait_stopped(pid: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.02)
    raise AssertionError(f"zcompute (pid {pid}) never reached the fault point")
