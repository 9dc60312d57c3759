"""Who runs a task: a process named so that its death can be told apart from a slow operation.

An owner is ``<boot id>:<pid>:<start time>``: the kernel's boot id (a reboot ends every owner),
the pid, and the process's start time in clock ticks since boot (a pid reused by a later process
has another start time). An operation records its owner with its task; a task whose owner is
gone was interrupted (kill -9, a crash, a power cut) and is recovered by the next command.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

__all__ = ["owner_alive", "this_process"]


@functools.cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: fields resume after the last ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19]  # field 22 of proc(5), counting from the state (field 3)


def this_process() -> str:
    """The owner string of the calling process."""
    pid = os.getpid()
    return f"{_boot_id()}:{pid}:{_start_time(pid)}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process that recorded ``owner`` still runs (None, an old record: no)."""
    if not owner:
        return False
    boot, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if boot != _boot_id() or not pid_text.isdigit():
        return False
    return _start_time(int(pid_text)) == started
