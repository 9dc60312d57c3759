"""A thin, typed handle on one libvirt connection."""

from __future__ import annotations

import threading

import libvirt

from zcompute.errors import HypervisorUnavailable
from zcompute.virt._errors import libvirt_errors


class Hypervisor:
    """One libvirt connection, opened lazily and reopened when libvirtd went away.

    This class grows with the driver; it only wraps libvirt calls and maps their errors,
    it makes no decisions.
    """

    def __init__(self, uri: str = "qemu:///system") -> None:
        self.uri = uri
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()

    @property
    def conn(self) -> libvirt.virConnect:
        """The live connection, (re)opened on first use or after libvirtd restarted."""
        with self._lock:
            if self._conn is not None and self._conn.isAlive():
                return self._conn
            try:
                self._conn = libvirt.open(self.uri)
            except libvirt.libvirtError as err:
                raise HypervisorUnavailable(
                    f"cannot connect to {self.uri}: {err.get_error_message()}; "
                    "run 'sudo scripts/setup-host' or start libvirtd",
                    err.get_error_code(),
                ) from err
            return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except libvirt.libvirtError:
                    pass  # closing a dead connection is not an error worth reporting
                self._conn = None

    def capabilities(self) -> str:
        """The host capabilities XML (``virConnectGetCapabilities``)."""
        with libvirt_errors("capabilities"):
            return str(self.conn.getCapabilities())

    def domain_capabilities(
        self,
        arch: str,
        machine: str | None = None,
        virt_type: str = "qemu",
        emulator: str | None = None,
    ) -> str:
        """The domain capabilities XML for one arch / machine / virt type."""
        with libvirt_errors("domain capabilities"):
            return str(self.conn.getDomainCapabilities(emulator, arch, machine, virt_type, 0))

    def versions(self) -> tuple[int, int]:
        """(libvirt version, hypervisor version) as libvirt's integers (major*1e6+minor*1e3+micro)."""
        with libvirt_errors("version"):
            return int(self.conn.getLibVersion()), int(self.conn.getVersion())


def validate_domain_on_libvirt(xml: str, uri: str = "test:///default") -> None:
    """Define ``xml`` with ``VIR_DOMAIN_DEFINE_VALIDATE`` on ``uri`` and undefine it again.

    Used to prove that a document is accepted by libvirt itself, not just by its schema.
    Raises :class:`zcompute.errors.SchemaError` (or another mapped error) with libvirt's
    message when libvirt rejects the document.
    """
    with libvirt_errors("domain XML"):
        conn = libvirt.open(uri)
        try:
            dom = conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
            dom.undefine()
        finally:
            conn.close()
