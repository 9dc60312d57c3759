"""What state an instance is in, from what libvirt says, and which operations that state allows.

libvirt reports a power state with a reason. zcompute's :class:`InstanceState` folds in what the
power state alone hides: a shut-off guest with a managed save image is *suspended*, and one
stopped by a crash is *crashed*.

The recorded state doubles as the operator's intent. A guest that stopped without anybody
asking — the host rebooted, QEMU was killed, libvirtd could not reconnect to it — keeps its
recorded ``running`` (or ``paused``), so that :meth:`resume_state_on_host_boot` knows to bring
it back. Everything else (the guest shut itself down, someone destroyed it, it crashed) is
recorded as it is.
"""

from __future__ import annotations

from collections.abc import Collection

from zcompute.errors import InvalidState
from zcompute.model import Instance, InstanceState, Task
from zcompute.virt import DomainState, PowerState

__all__ = [
    "ACTIVE",
    "ANY_STOPPED",
    "NOT_WHILE_RESCUED",
    "UNEXPECTED_STOP_REASONS",
    "instance_state",
    "refuse_while_rescued",
    "require_state",
    "settled_state",
    "stopped_unexpectedly",
]

_PLAIN = {
    PowerState.RUNNING: InstanceState.RUNNING,
    PowerState.BLOCKED: InstanceState.RUNNING,
    PowerState.PAUSED: InstanceState.PAUSED,
    PowerState.SHUTDOWN: InstanceState.SHUTDOWN,
    PowerState.SHUTOFF: InstanceState.SHUTOFF,
    PowerState.CRASHED: InstanceState.CRASHED,
    PowerState.PMSUSPENDED: InstanceState.SUSPENDED,
    PowerState.NOSTATE: InstanceState.NOSTATE,
}

#: libvirt's shut-off reasons for a guest nobody stopped: after a host boot ("unknown"), when
#: QEMU died under libvirt ("failed"), or when libvirtd could not reconnect to it ("daemon").
UNEXPECTED_STOP_REASONS = frozenset({"unknown", "failed", "daemon"})

#: States in which the guest's QEMU process runs (devices can be hot-plugged, a console opened).
ACTIVE = frozenset({InstanceState.RUNNING, InstanceState.PAUSED})
#: States of a guest whose QEMU process is gone (its disks are free; it can be started).
ANY_STOPPED = frozenset({InstanceState.SHUTOFF, InstanceState.CRASHED})


def instance_state(live: DomainState) -> InstanceState:
    """The instance state that libvirt's ``live`` state means."""
    if live.state is PowerState.SHUTOFF:
        if live.managed_save:
            return InstanceState.SUSPENDED
        if live.reason == "crashed":
            return InstanceState.CRASHED
    return _PLAIN[live.state]


def stopped_unexpectedly(live: DomainState) -> bool:
    """True for a shut-off guest that nobody (not even the guest itself) stopped."""
    return (
        live.state is PowerState.SHUTOFF
        and not live.managed_save
        and live.reason in UNEXPECTED_STOP_REASONS
    )


def settled_state(recorded: InstanceState, live: DomainState) -> InstanceState:
    """What to record for a guest recorded as ``recorded`` and now ``live`` (see the module)."""
    if stopped_unexpectedly(live) and recorded in ACTIVE:
        return recorded
    return instance_state(live)


def require_state(
    name: str, verb: str, current: InstanceState, allowed: Collection[InstanceState]
) -> None:
    """Raise InvalidState, naming the states that would do, unless ``current`` is allowed."""
    if current not in allowed:
        wanted = ", ".join(sorted(str(s) for s in allowed))
        raise InvalidState(
            f"cannot {verb} instance {name}: it is {current} (allowed: {wanted}); nothing changed"
        )


#: Tasks refused while a guest is rescued: they would change or copy the devices of a
#: definition that is not the guest's own (Nova allows unrescue, power and delete then).
NOT_WHILE_RESCUED = frozenset(
    {
        Task.RESCUING,
        Task.SNAPSHOTTING,
        Task.SUSPENDING,
        Task.ATTACHING_VOLUME,
        Task.DETACHING_VOLUME,
        Task.ATTACHING_INTERFACE,
        Task.DETACHING_INTERFACE,
        Task.REBUILDING,
        Task.RESIZING,
        Task.MIGRATING,
    }
)


def refuse_while_rescued(inst: Instance, verb: str, task: Task | None) -> None:
    """Raise InvalidState if ``inst`` is rescued and ``task`` makes no sense then."""
    if inst.rescue is not None and task in NOT_WHILE_RESCUED:
        raise InvalidState(
            f"cannot {verb} instance {inst.name}: it is rescued (unrescue it first); "
            "nothing changed"
        )
