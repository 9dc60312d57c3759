"""Driver part 2 on real guests: console, pause, suspend, reboot, power off/on, crash dump.

One guest per architecture goes through every power operation in turn (each boot costs seconds
under TCG), checking after each step what the guest itself shows: a shell that answers or not,
a file in its RAM that survives or not, a new boot report on its log console.
"""

from __future__ import annotations

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import InvalidState
from zcompute.model import InstanceState
from zcompute.virt import ConsoleClosed, ConsoleStream, PowerState
from zcompute.xml import Domain

from .conftest import TINY, imported_test_image
from .lifecycle_support import (
    BOOTED,
    IGNORE_SHUTDOWN,
    SHUTDOWN_IGNORED,
    SHUTDOWN_REQUESTED,
    LogWatch,
    hang_up_console_pty,
    open_shell,
    qemu_pid,
    run,
    timed,
    wait_for_shell,
    wait_until_reopened,
)

RUNNING, PAUSED, SHUTOFF = InstanceState.RUNNING, InstanceState.PAUSED, InstanceState.SHUTOFF


def _states(driver: ComputeDriver, name: str) -> tuple[InstanceState, InstanceState]:
    """(what libvirt says now, what zcompute recorded)."""
    return driver.get_info(name).state, driver.get_instance(name).state


@pytest.mark.feature(
    "interactive-console", "pause", "suspend", "reboot", "power-off-on", "trigger-crash-dump"
)
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_power_operations_on_a_real_guest(
    driver: ComputeDriver, arch: str, guest_name: str
) -> None:
    image = imported_test_image(driver, arch)
    with timed(arch, "spawn (to boot report)"):
        driver.spawn(guest_name, image, TINY.name, wait_for=BOOTED, timeout=120)
    with LogWatch(driver.console_log_path(guest_name)) as log:
        with timed(arch, "open console + first answer"), open_shell(driver, guest_name) as shell:
            assert run(shell, "echo zc-$((6*7))") == "zc-42"
            with timed(arch, "console command round trip"):
                run(shell, "echo kept-in-ram > /tmp/zc-state")
            hang_up_console_pty(driver, guest_name)  # the guest runs on: the stream reopens
            wait_until_reopened(shell, 1)
            wait_for_shell(shell)
            assert run(shell, "echo zc-$((6*8))") == "zc-48"
            assert shell.reopens == 1
            with driver.open_console(guest_name) as taker:  # another client takes it over:
                with pytest.raises(ConsoleClosed):  # the first one ends, and does not take it back
                    shell.read_until(b"never printed", 10)
                assert shell.reopens == 1
                _pause_and_unpause(driver, arch, guest_name, taker)
        _suspend_and_resume(driver, arch, guest_name)
        _reboots(driver, arch, guest_name, log)
        _power_off_and_on(driver, arch, guest_name, log)
        _crash_dump(driver, arch, guest_name, log)


def _pause_and_unpause(driver: ComputeDriver, arch: str, name: str, shell: ConsoleStream) -> None:
    with timed(arch, "pause"):
        driver.pause(name)
    assert _states(driver, name) == (PAUSED, PAUSED)
    with pytest.raises(InvalidState, match=r"cannot pause .* it is paused"):
        driver.pause(name)
    shell.write(b"echo zc-$((7*7))\n")
    assert b"zc-49" not in shell.read(1.0)  # its CPUs are stopped: no answer
    with timed(arch, "unpause"):
        driver.unpause(name)
    assert b"zc-49" in shell.read_until(b"zc-49", 10)  # ... until they run again
    assert _states(driver, name) == (RUNNING, RUNNING)


def _suspend_and_resume(driver: ComputeDriver, arch: str, name: str) -> None:
    with pytest.raises(InvalidState, match=r"cannot resume .* it is running"):
        driver.resume(name)
    pid = qemu_pid(name)
    with timed(arch, "suspend (managed save)"):
        driver.suspend(name)
    assert _states(driver, name) == (InstanceState.SUSPENDED, InstanceState.SUSPENDED)
    assert driver.domains.has_managed_save(driver.get_instance(name).uuid)
    with pytest.raises(InvalidState, match=r"cannot unpause .* it is suspended"):
        driver.unpause(name)
    with timed(arch, "resume"):
        driver.resume(name)
    assert _states(driver, name) == (RUNNING, RUNNING)
    assert driver.live_state(driver.get_instance(name).uuid).reason == "restored"
    assert qemu_pid(name) != pid  # a new QEMU process, restored from the saved memory
    with open_shell(driver, name) as shell:
        assert run(shell, "cat /tmp/zc-state") == "kept-in-ram"


def _reboots(driver: ComputeDriver, arch: str, name: str, log: LogWatch) -> None:
    log.mark()
    with timed(arch, "soft reboot (guest shuts down, started again)"):
        assert driver.reboot(name, timeout=60) is True
    log.wait(SHUTDOWN_REQUESTED)
    with timed(arch, "boot after soft reboot"):
        log.wait(BOOTED)
    with open_shell(driver, name) as shell:
        assert run(shell, "cat /tmp/zc-state 2>&1") != "kept-in-ram"  # a fresh boot
        run(shell, IGNORE_SHUTDOWN)
    log.mark()
    with timed(arch, "soft reboot ignored: hard after 3 s"):
        assert driver.reboot(name, timeout=3) is False
    assert log.wait(SHUTDOWN_IGNORED)
    log.wait(BOOTED)
    inst = driver.get_instance(name)
    live = Domain.from_xml(driver.domain_xml(name))
    assert live.os.machine == inst.machine_type  # regenerated with the pinned machine type
    start = log.mark()
    with timed(arch, "hard reboot"):
        assert driver.reboot(name, hard=True) is False
    log.wait(BOOTED)
    assert log.lines_since(start, "ZCOMPUTE-SHUTDOWN") == []  # the guest was not asked
    assert _states(driver, name) == (RUNNING, RUNNING)


def _power_off_and_on(driver: ComputeDriver, arch: str, name: str, log: LogWatch) -> None:
    log.mark()
    with timed(arch, "power off (graceful)"):
        assert driver.power_off(name, timeout=60) is True
    log.wait(SHUTDOWN_REQUESTED)
    assert _states(driver, name) == (SHUTOFF, SHUTOFF)
    assert driver.live_state(driver.get_instance(name).uuid).reason == "shutdown"
    with pytest.raises(InvalidState, match=r"cannot pause .* it is shutoff"):
        driver.pause(name)
    assert _states(driver, name) == (SHUTOFF, SHUTOFF)
    with timed(arch, "power on"):
        driver.power_on(name)
    log.wait(BOOTED)
    with open_shell(driver, name) as shell:
        run(shell, IGNORE_SHUTDOWN)
        log.mark()
        with timed(arch, "power off ignored: forced after 3 s"):
            assert driver.power_off(name, timeout=3) is False
        # the console of a stopped guest ends, and says why
        with pytest.raises(ConsoleClosed, match=r"the guest stopped \(shutoff, destroyed\)$"):
            shell.read_until(b"never printed", 30)
        assert shell.reopens == 0
    log.wait(SHUTDOWN_IGNORED)
    assert driver.live_state(driver.get_instance(name).uuid).reason == "destroyed"
    driver.power_on(name)
    log.wait(BOOTED)


def _crash_dump(driver: ComputeDriver, arch: str, name: str, log: LogWatch) -> None:
    log.mark()
    with timed(arch, "trigger crash dump (NMI)"):
        driver.trigger_crash_dump(name)
    if arch == "s390x":
        # The NMI is a restart interrupt; without kdump Linux stops, QEMU reports the stopped
        # guest as panicked and libvirt (on_crash=destroy) shuts it off, crashed.
        uuid = driver.get_instance(name).uuid
        driver.domains.wait_state(uuid, {PowerState.SHUTOFF}, timeout=30)
        assert driver.live_state(uuid).reason == "crashed"
        assert _states(driver, name) == (InstanceState.CRASHED, InstanceState.CRASHED)
        driver.power_on(name)  # a crashed guest starts again
        log.wait(BOOTED)
    else:
        assert "NMI received" in log.wait("NMI received", timeout=30)
        assert _states(driver, name) == (RUNNING, RUNNING)
