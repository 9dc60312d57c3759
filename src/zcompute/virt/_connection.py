"""A thin, typed handle on one libvirt connection."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import libvirt

from zcompute.errors import HypervisorUnavailable
from zcompute.virt._errors import libvirt_errors
from zcompute.virt._events import Subscription, ensure_event_loop

LOG = logging.getLogger("zcompute.virt")

T = TypeVar("T")

# How long an operation that lost libvirtd half-way waits for it to come back before it gives
# up: a supervisor (systemd, or setup-host's subreaper) restarts a crashed libvirtd within a
# second or two, and guests keep running under QEMU meanwhile.
RECONNECT_PATIENCE = 30.0


class Hypervisor:
    """One libvirt connection, opened lazily and reopened when libvirtd went away.

    Only wraps libvirt calls and maps their errors; it makes no decisions.
    """

    def __init__(self, uri: str = "qemu:///system", patience: float = RECONNECT_PATIENCE) -> None:
        self.uri = uri
        self.patience = patience
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()
        self._generation = 0
        self._subscriptions: list[Subscription] = []

    @property
    def conn(self) -> libvirt.virConnect:
        """The live connection, (re)opened on first use or after libvirtd restarted."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    if self._conn.isAlive():
                        return self._conn
                self._conn = None
            self._conn = self._open()
            self._generation += 1
            return self._conn

    def _open(self) -> libvirt.virConnect:
        ensure_event_loop()
        try:
            conn = libvirt.open(self.uri)
            if not self.uri.startswith("test:"):
                # Notice a dead libvirtd within seconds instead of at the next call.
                conn.setKeepAlive(5, 3)
            for event_id in dict.fromkeys(sub.event_id for sub in self._subscriptions):
                conn.domainEventRegisterAny(None, event_id, self._dispatcher(event_id), None)
        except libvirt.libvirtError as err:
            raise HypervisorUnavailable(
                f"cannot connect to {self.uri}: {err.get_error_message()}; "
                "run 'sudo scripts/setup-host' or start libvirtd",
                err.get_error_code(),
            ) from err
        return conn

    def wait_until_back(self, timeout: float | None = None) -> None:
        """Wait until libvirtd answers again (at most ``timeout``, default :attr:`patience`
        seconds); raises :class:`HypervisorUnavailable` if it does not."""
        deadline = time.monotonic() + (self.patience if timeout is None else timeout)
        while True:
            try:
                self.conn  # noqa: B018 (opens the connection anew)
                return
            except HypervisorUnavailable:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.2)

    def when_back(self, call: Callable[[], T]) -> T:
        """Run ``call``; if libvirtd went away meanwhile, wait for it and run ``call`` once more.

        Only for calls that may safely run twice: reads, and undo steps that check what is
        there before they remove it.
        """
        try:
            return call()
        except HypervisorUnavailable:
            self.wait_until_back()
            return call()

    def subscribe(self, subscription: Subscription) -> None:
        """Deliver an event kind to a callback, on this and every future connection."""
        with self._lock:
            first = all(sub.event_id != subscription.event_id for sub in self._subscriptions)
            self._subscriptions.append(subscription)
            if self._conn is not None and first:
                with libvirt_errors("event registration"):
                    self._conn.domainEventRegisterAny(
                        None, subscription.event_id, self._dispatcher(subscription.event_id), None
                    )

    def _dispatcher(self, event_id: int) -> Callable[..., None]:
        """One libvirt callback per event kind, calling each subscriber in turn: libvirt
        refuses a second registration of an event kind on one connection ("already tracked")."""

        def dispatch(*args: Any) -> None:
            for sub in [s for s in self._subscriptions if s.event_id == event_id]:
                try:
                    sub.adapter(*args)
                except Exception:  # one subscriber's bug must not starve the others
                    LOG.exception("event subscriber failed")

        return dispatch

    @property
    def generation(self) -> int:
        """Counts (re)connections, so event registrations know when to register again."""
        return self._generation

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.close()  # closing a dead connection is not worth reporting
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
        """(libvirt, hypervisor) versions, encoded as major * 1_000_000 + minor * 1000 + micro."""
        with libvirt_errors("version"):
            return int(self.conn.getLibVersion()), int(self.conn.getVersion())

    def hostname(self) -> str:
        with libvirt_errors("hostname"):
            return str(self.conn.getHostname())

    def network_names(self) -> list[str]:
        """The names of libvirt's networks (active or not)."""
        with libvirt_errors("networks"):
            return sorted(str(net.name()) for net in self.conn.listAllNetworks(0))

    def node_info(self) -> tuple[str, int, int]:
        """(host arch, memory MiB, logical CPUs) from ``virNodeGetInfo``."""
        with libvirt_errors("node info"):
            info = self.conn.getInfo()
        return str(info[0]), int(info[1]), int(info[2])


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
