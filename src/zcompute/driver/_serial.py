"""The interactive console: which device it is, and a bidirectional stream to it.

The architecture profile decides the interactive console (the ``sclp`` VT220 console on s390x,
an ISA serial port on x86_64): it is the character device the profile gives the ``interactive``
role, a pty, or a raw TCP server when ``serial_tcp`` is configured. Its libvirt alias
(``console0``, ``serial0``) is read from the live XML, which is where libvirt assigns it.

libvirt's console stream (``virDomainOpenConsole``, what :meth:`ConsoleOps.open_console` uses)
only reaches pty devices; a TCP console is reached at its endpoint instead
(:meth:`ConsoleOps.get_serial_console` names it), and ``open_console`` refuses it, naming that
endpoint: the endpoint serves one client at a time, and is there for a serial proxy (Nova's).
"""

from __future__ import annotations

import dataclasses

from zcompute.arch import ArchProfile, get_profile
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._operations import Operations
from zcompute.driver._state import ACTIVE
from zcompute.errors import InvalidState, NotFound
from zcompute.virt import ConsoleStream
from zcompute.xml import Console, Domain, Serial

__all__ = ["ConsoleOps", "SerialConsole"]


@dataclasses.dataclass(frozen=True)
class SerialConsole:
    """Where a guest's interactive console is: libvirt's alias and the host pty behind it, or
    the TCP endpoint (``host``, ``port``) when it is a raw TCP server (``serial_tcp``)."""

    alias: str
    element: str  # "console" or "serial"
    target_type: str | None
    pty: str | None
    host: str | None = None
    port: int | None = None

    @property
    def tcp(self) -> bool:
        """Whether the console is a TCP endpoint (reached at ``host``:``port``)."""
        return self.port is not None


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class ConsoleOps:
    """The interactive console operations of :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(self, ctx: DriverContext, ops: Operations) -> None:
        self._ctx = ctx
        self._ops = ops

    def get_serial_console(self, name_or_uuid: str) -> SerialConsole:
        """The interactive console device of a running (or paused) guest."""
        with self._ops.run(name_or_uuid, None, ACTIVE, "open the console of") as op:
            live = Domain.from_xml(self._ctx.domains.xml(op.uuid))
            return _interactive(live, get_profile(op.instance.arch), op.name)

    def open_console(self, name_or_uuid: str) -> ConsoleStream:
        """A bidirectional stream to the guest's interactive console (close it when done).

        Opening takes the console over from another client that holds it. A console that is
        a TCP endpoint (``serial_tcp``) is refused with InvalidState naming the endpoint.
        """
        console = self.get_serial_console(name_or_uuid)
        if console.tcp:
            raise InvalidState(
                f"the interactive console of {name_or_uuid} is a TCP endpoint "
                f"(serial_tcp), not a pty libvirt can stream: connect a raw TCP client "
                f"(e.g. nc) to {console.host} port {console.port}"
            )
        uuid = self._ctx.db.get_instance(name_or_uuid).uuid
        return ConsoleStream(self._ctx.hv, uuid, console.alias)


def _interactive(live: Domain, profile: ArchProfile, name: str) -> SerialConsole:
    wanted = {
        (spec.element, spec.target_type)
        for form in profile.console_forms
        for spec in profile.layout("/console.log", form).specs
        if spec.role == "interactive"
    }
    devices: list[Console | Serial] = [*live.devices.serials, *live.devices.consoles]
    for dev in devices:
        element = "serial" if isinstance(dev, Serial) else "console"
        if (element, dev.target_type) not in wanted:
            continue
        if dev.type == "pty" and dev.alias:  # libvirt streams it by its alias
            return SerialConsole(dev.alias, element, dev.target_type, dev.source_path)
        service = dev.source_service or ""
        if dev.type == "tcp" and dev.source_mode == "bind" and service.isdigit():
            alias = dev.alias or ""  # not needed: a client connects to the endpoint
            return SerialConsole(
                alias, element, dev.target_type, None, dev.source_host, int(service)
            )
    raise NotFound("interactive console", name, f"instance {name} has no interactive console")
