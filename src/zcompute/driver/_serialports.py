"""TCP ports for interactive consoles (config ``serial_tcp``): one per instance, kept for good.

A port is allocated when an instance first needs one (its spawn, or its first start after
``serial_tcp`` was turned on) and recorded with it, so that every later plan (power on, hard
reboot, host-boot resume) listens on the same port: a serial proxy that knows the endpoint keeps
reaching the guest. A port is free when no instance of this data directory has it recorded (the
state database's unique index makes that hold across processes) and nothing listens on it now
(another data directory's guest, any other program): that is asked by binding it, which sends
no traffic.

Between its allocation and the guest's QEMU listening on it, a port is neither recorded (for a
moment) nor listened on (for as long as the root disk takes): a port handed out in this process
is therefore claimed for a while, so that concurrent spawns (Nova runs several at once, and
its compute services may share a process) never pick the same one.
"""

from __future__ import annotations

import errno
import socket
import threading
import time

from zcompute.config import SerialTcp
from zcompute.errors import ConfigError, Conflict
from zcompute.model import Instance
from zcompute.state import StateDB

__all__ = ["allocate_serial_port", "port_in_use", "serial_port_for"]

CLAIM_SECONDS = 600.0  # long enough for a spawn to copy its root disk and start QEMU
_claims: dict[tuple[str, int], float] = {}  # (address, port) -> until when it is claimed
_claims_lock = threading.Lock()


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on ``host``:``port`` (it cannot be bound)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as QEMU binds it: a connection of an earlier guest in TIME_WAIT does not count
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise ConfigError(
                "serial_tcp", f"cannot listen on {host} port {port}: {err.strerror or err}"
            ) from err
    return False


def allocate_serial_port(db: StateDB, endpoints: SerialTcp) -> int:
    """The first port of the range that no instance has recorded and nothing listens on."""
    recorded = db.serial_ports()
    with _claims_lock:
        now = time.monotonic()
        for key in [key for key, until in _claims.items() if until <= now]:
            del _claims[key]
        for port in endpoints.ports:
            key = (endpoints.host, port)
            if port in recorded or key in _claims or port_in_use(endpoints.host, port):
                continue
            _claims[key] = now + CLAIM_SECONDS
            return port
    raise Conflict(
        f"no free serial console port in {endpoints} ({len(recorded)} recorded by instances, "
        "the others in use); widen serial_tcp's port range"
    )


def serial_port_for(db: StateDB, endpoints: SerialTcp | None, inst: Instance) -> int | None:
    """The port an existing instance's next plan listens on, allocated and recorded if needed.

    Its recorded port while that is in the configured range; a new one (recorded) when it has
    none or the range changed. None while ``serial_tcp`` is off: the console is a pty then, and
    a recorded port is kept for when it is turned on again.
    """
    if endpoints is None:
        return None
    if inst.serial_port is not None and inst.serial_port in endpoints.ports:
        return inst.serial_port
    port = allocate_serial_port(db, endpoints)
    db.set_serial_port(inst.uuid, port)
    return port
