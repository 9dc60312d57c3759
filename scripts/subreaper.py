#!/usr/bin/env python3
"""Run a daemon (libvirtd) in the foreground as our child while we act as its child subreaper,
and restart it when it fails, as systemd's ``Restart=on-failure`` would.

Where PID 1 is not an init that reaps orphans promptly (containers, micro-VMs), QEMU processes
that libvirtd daemonises become zombies that libvirt's destroy waits on for seconds. As a
PR_SET_CHILD_SUBREAPER process, this wrapper inherits those orphans and reaps them at once.

It forwards SIGTERM/SIGINT/SIGHUP to the daemon. When the daemon exits with a non-zero status
or is killed by a signal other than SIGTERM, SIGINT, SIGHUP or SIGPIPE (an abort, a crash, a
SIGKILL), it is started again after RESTART_DELAY seconds, at most START_LIMIT times within
START_INTERVAL seconds (systemd's defaults); every restart is logged on standard error. A clean
exit, or a stop this wrapper forwarded, ends the wrapper once the last orphan is reaped; guests
keep running under QEMU either way.

Usage: subreaper.py PIDFILE -- COMMAND [ARGS...]
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
RESTART_DELAY = 0.1  # seconds, systemd's RestartSec default
START_LIMIT = 5  # systemd's StartLimitBurst default ...
START_INTERVAL = 10.0  # ... within StartLimitIntervalSec
_CLEAN_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE}


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    pidfile, command = sys.argv[1], sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print(f"prctl failed: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    with open(pidfile, "w") as handle:
        handle.write(f"{os.getpid()}\n")
    status = Supervisor(command).run()
    _remove_own_pidfile(pidfile)
    return status


class Supervisor:
    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.child = 0
        self.stopping = False  # a stop signal was forwarded: the daemon's exit is wanted
        self.starts: list[float] = []

    def start(self) -> None:
        self.starts = [t for t in self.starts if time.monotonic() - t < START_INTERVAL]
        self.starts.append(time.monotonic())
        self.child = os.fork()
        if self.child == 0:
            os.execvp(self.command[0], self.command)

    def forward(self, signum: int, _frame: object) -> None:
        self.stopping = True
        if self.child:
            os.kill(self.child, signum)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self.forward)
        self.start()
        status = 0
        while True:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                return status
            except InterruptedError:
                continue
            if pid != self.child:
                continue  # an orphan (QEMU) reaped
            status = os.waitstatus_to_exitcode(wait_status)
            self.child = 0
            if self.stopping or not _failed(status):
                continue  # keep reaping any remaining orphans until none are left
            if len(self.starts) >= START_LIMIT:
                _log(
                    f"{self.command[0]} failed ({_describe(status)}) {START_LIMIT} times "
                    f"within {START_INTERVAL:.0f} s: not restarting it"
                )
                continue
            _log(f"{self.command[0]} failed ({_describe(status)}); restarting it")
            time.sleep(RESTART_DELAY)
            self.start()
            _log(f"{self.command[0]} restarted as pid {self.child}")


def _failed(status: int) -> bool:
    """systemd's on-failure: a non-zero exit, or death by a signal other than a clean stop."""
    if status < 0:
        return -status not in _CLEAN_SIGNALS
    return status != 0


def _describe(status: int) -> str:
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    return f"exit status {status}"


def _log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} subreaper[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


def _remove_own_pidfile(pidfile: str) -> None:
    """Remove the pid file only while it still names us (a successor may have replaced it)."""
    try:
        with open(pidfile) as handle:
            if handle.read().strip() != str(os.getpid()):
                return
        os.unlink(pidfile)
    except FileNotFoundError:
        pass


if __name__ == "__main__":
    sys.exit(main())
