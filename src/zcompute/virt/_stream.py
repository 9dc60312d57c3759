"""A guest's interactive console as a bidirectional byte stream (libvirt's console stream API).

libvirt hands console bytes to a non-blocking stream; they are collected by a callback that
runs on libvirt's event loop thread (:func:`ensure_event_loop`; without that loop ``recv``
only ever says "try again"). Readers wait on a condition for what the callback collected.
"""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType
from typing import Any

import libvirt

from zcompute.errors import InvalidState, NotFound, Timeout
from zcompute.virt._connection import Hypervisor
from zcompute.virt._errors import libvirt_errors

__all__ = ["ConsoleClosed", "ConsoleStream"]

_CHUNK = 64 * 1024
_MAX_BUFFER = 1 << 20  # unread output kept at most; older bytes are dropped (a slow reader)
_WATCH = (
    libvirt.VIR_STREAM_EVENT_READABLE
    | libvirt.VIR_STREAM_EVENT_ERROR
    | libvirt.VIR_STREAM_EVENT_HANGUP
)
_WOULD_BLOCK = -2  # what recv/send return on a non-blocking stream with nothing to do


class ConsoleClosed(InvalidState):
    """The console stream ended: the guest stopped, another client took the console, or
    libvirtd went away."""


class ConsoleStream:
    """An open interactive console; use as a context manager or call :meth:`close`.

    ``read`` returns what the guest wrote since the last read; ``write`` sends keystrokes.
    Opening takes the console over from any other client (``virsh console`` does the same
    with ``--force``), because a console left open by a crashed client would otherwise block
    it for good.
    """

    def __init__(self, hypervisor: Hypervisor, uuid: str, device: str | None) -> None:
        self.uuid = uuid
        self.device = device
        self._cond = threading.Condition()
        self._buffer = bytearray()
        self._ended: str | None = None
        conn = hypervisor.conn
        with libvirt_errors(uuid):
            try:
                dom = conn.lookupByUUIDString(uuid)
            except libvirt.libvirtError as err:
                if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    raise NotFound("domain", uuid) from err
                raise
            self._stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
            try:
                dom.openConsole(device, self._stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
                self._stream.eventAddCallback(_WATCH, self._on_event, None)
            except libvirt.libvirtError:
                _quietly(self._stream.abort)
                raise

    # -- the event loop side ---------------------------------------------------------------

    def _on_event(self, stream: libvirt.virStream, events: int, _opaque: Any) -> None:
        if events & libvirt.VIR_STREAM_EVENT_READABLE:
            self._drain(stream)
        if events & (libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP):
            self._end("the console stream was closed by libvirt")

    def _drain(self, stream: libvirt.virStream) -> None:
        while True:
            try:
                data = stream.recv(_CHUNK)
            except libvirt.libvirtError as err:
                self._end(f"the console stream failed: {err.get_error_message()}")
                return
            if data == _WOULD_BLOCK:
                return
            if not data:
                self._end("the console stream ended (the guest stopped)")
                return
            with self._cond:
                self._buffer += data
                del self._buffer[:-_MAX_BUFFER]
                self._cond.notify_all()

    def _end(self, why: str) -> None:
        with self._cond:
            if self._ended is None:
                self._ended = why
            self._cond.notify_all()

    # -- the caller side -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._ended is not None

    def read(self, timeout: float) -> bytes:
        """Output since the last read, waiting up to ``timeout`` seconds for some.

        Returns ``b""`` when nothing arrived in time. Raises :class:`ConsoleClosed` once the
        stream has ended and everything it delivered was read.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._buffer or self._ended is not None, timeout)
            if self._buffer:
                data = bytes(self._buffer)
                self._buffer.clear()
                return data
            if self._ended is not None:
                raise ConsoleClosed(self._ended)
            return b""

    def read_until(self, needle: bytes, timeout: float) -> bytes:
        """Everything read until ``needle`` appeared (inclusive of what came with it)."""
        deadline = time.monotonic() + timeout
        seen = b""
        while needle not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(
                    f"console output did not show {needle!r} within {timeout:.1f} s; "
                    f"it ends with {seen[-300:]!r}"
                )
            seen += self.read(left)
        return seen

    def write(self, data: bytes, timeout: float = 10.0) -> int:
        """Send ``data`` to the console; returns the number of bytes sent (all of them)."""
        deadline = time.monotonic() + timeout
        sent = 0
        while sent < len(data):
            if self._ended is not None:
                raise ConsoleClosed(self._ended)
            with libvirt_errors(self.uuid):
                count = self._stream.send(data[sent:])
            if count == _WOULD_BLOCK:
                if time.monotonic() >= deadline:
                    raise Timeout(f"the console took no input for {timeout:.1f} s")
                time.sleep(0.01)
                continue
            sent += int(count)
        return sent

    def close(self) -> None:
        """Stop watching and release the console (idempotent)."""
        with self._cond:
            if self._ended == "closed":
                return
            self._ended = "closed"
            self._cond.notify_all()
        _quietly(self._stream.eventRemoveCallback)
        _quietly(self._stream.abort)

    def __enter__(self) -> ConsoleStream:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()


def _quietly(call: Any) -> None:
    """Release a stream resource; libvirt complains when it is already gone, which is fine."""
    with contextlib.suppress(libvirt.libvirtError):
        call()
