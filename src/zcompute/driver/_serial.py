"""The interactive console: which device it is, and a bidirectional stream to it.

The architecture profile decides the interactive console (the ``sclp`` VT220 console on s390x,
an ISA serial port on x86_64): it is the pty character device the profile gives the
``interactive`` role. Its libvirt alias (``console0``, ``serial0``) is read from the live XML,
which is where libvirt assigns it.
"""

from __future__ import annotations

import dataclasses

from zcompute.arch import ArchProfile, get_profile
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._operations import Operations
from zcompute.driver._state import ACTIVE
from zcompute.errors import NotFound
from zcompute.virt import ConsoleStream
from zcompute.xml import Console, Domain, Serial

__all__ = ["ConsoleOps", "SerialConsole"]


@dataclasses.dataclass(frozen=True)
class SerialConsole:
    """Where a guest's interactive console is: libvirt's alias and the host pty behind it."""

    alias: str
    element: str  # "console" or "serial"
    target_type: str | None
    pty: str | None


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

        Opening takes the console over from another client that holds it.
        """
        console = self.get_serial_console(name_or_uuid)
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
        if dev.type == "pty" and (element, dev.target_type) in wanted and dev.alias:
            return SerialConsole(dev.alias, element, dev.target_type, dev.source_path)
    raise NotFound("interactive console", name, f"instance {name} has no interactive console")
