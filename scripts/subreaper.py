#!/usr/bin/env python3
"""Run a daemon (libvirtd) in the foreground as our child while we act as its child subreaper.

Where PID 1 is not an init that reaps orphans promptly (containers, micro-VMs), QEMU processes
that libvirtd daemonises become zombies that libvirt's destroy waits on for seconds. As a
PR_SET_CHILD_SUBREAPER process, this wrapper inherits those orphans and reaps them at once.
It forwards SIGTERM/SIGINT/SIGHUP to the daemon and exits with the daemon's status.

Usage: subreaper.py PIDFILE -- COMMAND [ARGS...]
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    pidfile, command = sys.argv[1], sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print(f"prctl failed: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    child = os.fork()
    if child == 0:
        os.execvp(command[0], command)
    with open(pidfile, "w") as handle:
        handle.write(f"{os.getpid()}\n")
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda s, _f: os.kill(child, s))
    status = 0
    while True:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child:
            status = os.waitstatus_to_exitcode(wait_status)
            # Keep reaping any remaining orphans (QEMU) until none are left.
    _remove_own_pidfile(pidfile)
    return status if status >= 0 else 128 - status


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
