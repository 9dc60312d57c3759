"""Named points in multi-step operations where the interruption tests inject faults.

Every step of an operation that changes something outside the process (a record, a file, a
domain, a device) is followed by ``fault_point("<operation>.<step>")``. In production nothing
is set and a point costs one dictionary lookup. The tests set, in the environment of a
``zcompute`` process:

* ``ZCOMPUTE_FAULT_TRACE=FILE``: every point reached is appended to FILE, which tells the
  tests which steps an operation has (so a new step is interrupted without a test change);
* ``ZCOMPUTE_FAULT=<point>:<action>``: at that point, ``raise`` an :class:`InjectedFault` (an
  error like any other), ``term`` (SIGTERM to this process), ``kill`` (SIGKILL: no cleanup
  runs at all) or ``stop`` (SIGSTOP: the process waits there until the test, having done
  something meanwhile such as killing libvirtd, sends SIGCONT).
"""

from __future__ import annotations

import os
import signal

from zcompute.errors import ZcomputeError

__all__ = ["InjectedFault", "fault_point"]

FAULT_VARIABLE = "ZCOMPUTE_FAULT"
TRACE_VARIABLE = "ZCOMPUTE_FAULT_TRACE"


class InjectedFault(ZcomputeError):
    """A failure injected by a test at a named step."""


def fault_point(name: str) -> None:
    """Mark the end of step ``name``; act on a fault the environment injects there."""
    trace = os.environ.get(TRACE_VARIABLE)
    if trace:
        with open(trace, "a") as handle:
            handle.write(name + "\n")
    fault = os.environ.get(FAULT_VARIABLE)
    if not fault:
        return
    point, _, action = fault.rpartition(":")
    if point != name:
        return
    if action == "raise":
        raise InjectedFault(f"fault injected after step {name}")
    if action in _SIGNALS:
        # SIGTERM's handler raises in the main thread within a few bytecodes; SIGKILL ends us;
        # SIGSTOP returns once the test sends SIGCONT
        os.kill(os.getpid(), _SIGNALS[action])
        return
    raise ValueError(
        f"{FAULT_VARIABLE}: unknown action {action!r} (allowed: raise, {', '.join(_SIGNALS)})"
    )


_SIGNALS = {"term": signal.SIGTERM, "kill": signal.SIGKILL, "stop": signal.SIGSTOP}
