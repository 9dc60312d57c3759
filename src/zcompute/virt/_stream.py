"""A guest's interactive console as a bidirectional byte stream (libvirt's console stream API).

libvirt hands console bytes to a non-blocking stream; they are collected by a callback that
runs on libvirt's event loop thread (:func:`ensure_event_loop`; without that loop ``recv``
only ever says "try again"). Readers wait on a condition for what the callback collected.

How a stream ends decides what happens next:

* the pty under libvirtd was hung up (libvirtd reads end of file from it, or fails to read or
  write it) while the same QEMU process still runs the guest: the console is opened again, a
  few times at most, and the caller notices nothing beyond a warning in the log;
* libvirtd itself went away (it crashed or was restarted; QEMU runs on): the console is
  opened again on a new connection once libvirtd answers, within the hypervisor's patience;
* the same signs because the guest stopped (its QEMU closed the pty): :class:`ConsoleClosed`,
  naming the guest's state and libvirt's reason for it (``shutoff, crashed``);
* any other error, such as another client taking the console over: :class:`ConsoleClosed` at
  once, never a reopen (two clients would otherwise keep taking it from each other).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from types import TracebackType
from typing import Any

import libvirt

from zcompute.errors import HypervisorUnavailable, InvalidState, NotFound, Timeout
from zcompute.virt._connection import Hypervisor
from zcompute.virt._domains import power_state, state_reason
from zcompute.virt._errors import libvirt_errors

__all__ = ["ConsoleClosed", "ConsoleStream"]

LOG = logging.getLogger("zcompute.virt")

_CHUNK = 64 * 1024
_MAX_BUFFER = 1 << 20  # unread output kept at most; older bytes are dropped (a slow reader)
_WATCH = (
    libvirt.VIR_STREAM_EVENT_READABLE
    | libvirt.VIR_STREAM_EVENT_ERROR
    | libvirt.VIR_STREAM_EVENT_HANGUP
)
_WOULD_BLOCK = -2  # what recv/send return on a non-blocking stream with nothing to do
_MAX_REOPENS = 3  # end-of-file reopens per stream while the same guest keeps running
_REOPEN_DELAY = 0.2  # seconds: lets libvirtd notice a QEMU that is exiting before we look
_SETTLE_TIMEOUT = 3.0  # seconds to wait for libvirtd to report a guest whose QEMU went away


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
        self.reopens = 0  # how often a hung-up pty was survived by opening the console again
        self._hv = hypervisor
        self._conn = hypervisor.conn
        self._cond = threading.Condition()
        self._reopen_lock = threading.RLock()  # held to replace the stream, or to send on it
        self._buffer = bytearray()
        self._ended: str | None = None
        self._hung_up = False  # the pty under libvirtd was hung up: the guest may still run
        self._final: str | None = None  # why the stream is over for good (ConsoleClosed)
        self._generation = 0  # events of a stream replaced by a reopen are ignored
        self._released = False  # the current libvirt stream was aborted already
        with libvirt_errors(uuid):
            try:
                dom = self._conn.lookupByUUIDString(uuid)
            except libvirt.libvirtError as err:
                if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    raise NotFound("domain", uuid) from err
                raise
            self._domain_id = dom.ID()  # which QEMU process: a restarted guest gets a new one
            self._stream = self._open(dom)

    def _open(self, dom: libvirt.virDomain) -> libvirt.virStream:
        stream = self._conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        try:
            dom.openConsole(self.device, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
            stream.eventAddCallback(_WATCH, self._on_event, self._generation)
        except libvirt.libvirtError:
            _quietly(stream.abort)
            raise
        return stream

    # -- the event loop side ---------------------------------------------------------------

    def _on_event(self, stream: libvirt.virStream, events: int, generation: Any) -> None:
        if generation != self._generation:
            return  # a stream that a reopen replaced
        if events & libvirt.VIR_STREAM_EVENT_READABLE:
            self._drain(stream, generation)
        if events & (libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP):
            self._end(generation, "the console stream was closed by libvirt")

    def _drain(self, stream: libvirt.virStream, generation: int) -> None:
        while True:
            try:
                data = stream.recv(_CHUNK)
            except libvirt.libvirtError as err:
                message = f"the console stream failed: {err.get_error_message()}"
                self._end(generation, message, _hangup(err))
                return
            if data == _WOULD_BLOCK:
                return
            if not data:
                self._end(generation, "the console stream ended", hung_up=True)
                return
            with self._cond:
                self._buffer += data
                del self._buffer[:-_MAX_BUFFER]
                self._cond.notify_all()

    def _end(self, generation: int, why: str, hung_up: bool = False) -> None:
        with self._cond:
            # a callback still running for a replaced stream must not end its successor
            if self._ended is None and generation == self._generation:
                self._ended, self._hung_up = why, hung_up
            self._cond.notify_all()

    # -- the caller side -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._final is not None

    def read(self, timeout: float) -> bytes:
        """Output since the last read, waiting up to ``timeout`` seconds for some.

        Returns ``b""`` when nothing arrived in time. Raises :class:`ConsoleClosed` once the
        stream has ended for good and everything it delivered was read.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                left = deadline - time.monotonic()
                self._cond.wait_for(lambda: self._buffer or self._ended is not None, left)
                if self._buffer:
                    data = bytes(self._buffer)
                    self._buffer.clear()
                    return data
                if self._ended is None:
                    return b""
            self._recover()  # raises ConsoleClosed, or the stream is open again

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
            with self._reopen_lock:
                if self._ended is not None:
                    self._recover()
                try:
                    count = self._stream.send(data[sent:])
                except libvirt.libvirtError as err:
                    gone = self._libvirtd_gone()
                    if not (_hangup(err) or gone):
                        with libvirt_errors(self.uuid):
                            raise
                    message = f"the console stream failed: {err.get_error_message()}"
                    self._end(self._generation, message, hung_up=not gone)
                    continue
            if count == _WOULD_BLOCK:
                if time.monotonic() >= deadline:
                    raise Timeout(f"the console took no input for {timeout:.1f} s")
                time.sleep(0.01)
                continue
            sent += int(count)
        return sent

    # -- the end of a stream -----------------------------------------------------------------

    def _recover(self) -> None:
        """The stream ended: open it again if the same guest still runs, else raise."""
        with self._reopen_lock:
            if self._ended is None:
                return  # another thread reopened it meanwhile
            if self._final is None:
                reopen = self._hung_up or self._libvirtd_gone()
                if reopen and self.reopens < _MAX_REOPENS and self._reopen():
                    return
                self._final = self._why_over()
            raise ConsoleClosed(self._final)

    def _libvirtd_gone(self) -> bool:
        try:
            return not self._conn.isAlive()
        except libvirt.libvirtError:
            return True

    def _reopen(self) -> bool:
        time.sleep(_REOPEN_DELAY)
        if self._libvirtd_gone():
            try:
                self._hv.wait_until_back()
            except HypervisorUnavailable:
                return False
            self._conn = self._hv.conn
        try:
            dom = self._conn.lookupByUUIDString(self.uuid)
            if not dom.isActive() or dom.ID() != self._domain_id:
                return False
        except libvirt.libvirtError:
            return False
        with self._cond:  # from here on, events of the old stream are ignored
            self._generation += 1
            ended, hung_up = self._ended, self._hung_up
            self._ended, self._hung_up = None, False
        # Release the old stream before opening anew: once a forced open has replaced it in
        # libvirtd, an abort of it waits for an answer that never comes.
        self._release()
        try:
            self._stream = self._open(dom)
        except libvirt.libvirtError:
            with self._cond:
                self._ended, self._hung_up = ended, hung_up
                self._cond.notify_all()
            return False
        self._released = False
        self.reopens += 1
        LOG.warning("console of %s: %s while the guest runs; reopened", self.uuid, ended)
        return True

    def _release(self) -> None:
        if not self._released:
            self._released = True
            _quietly(self._stream.eventRemoveCallback)
            _quietly(self._stream.abort)

    def _why_over(self) -> str:
        """What :class:`ConsoleClosed` says; for an end of file, the guest's state now."""
        assert self._ended is not None
        if not self._hung_up:
            return self._ended
        deadline = time.monotonic() + _SETTLE_TIMEOUT
        while True:  # a QEMU that closed its pty is exiting: wait until libvirtd says so
            try:
                dom = self._conn.lookupByUUIDString(self.uuid)
                code, reason = dom.state()
                same_qemu = bool(dom.isActive()) and dom.ID() == self._domain_id
            except libvirt.libvirtError:
                return f"{self._ended}: the guest is gone"
            if not same_qemu or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        state = f"{power_state(code)}, {state_reason(code, reason)}"
        if same_qemu:
            return f"{self._ended} again and again although the guest runs ({state})"
        if dom.isActive():
            return f"{self._ended}: the guest stopped and started again ({state})"
        return f"{self._ended}: the guest stopped ({state})"

    def close(self) -> None:
        """Stop watching and release the console (idempotent)."""
        with self._cond:
            if self._final == "closed":
                return
            self._ended = self._final = "closed"
            self._cond.notify_all()
        with self._reopen_lock:
            self._release()

    def __enter__(self) -> ConsoleStream:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()


def _hangup(err: libvirt.libvirtError) -> bool:
    """Whether libvirtd's own I/O on the pty failed (as on a hung-up pty), not the stream."""
    return bool(
        err.get_error_code() == libvirt.VIR_ERR_SYSTEM_ERROR
        and err.get_error_domain() == libvirt.VIR_FROM_STREAMS
    )


def _quietly(call: Any) -> None:
    """Release a stream resource; libvirt complains when it is already gone, which is fine."""
    with contextlib.suppress(libvirt.libvirtError):
        call()
