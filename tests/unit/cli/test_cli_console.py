"""``zcompute console-log`` on real log files, and the interactive console's relay.

The relay (:class:`ConsoleSession`) is exercised with a loopback stream over a real socket
pair whose far end behaves like a guest shell that echoes, and with a real pseudo terminal as
stdin for raw mode and the ^] escape. The whole ``zcompute console`` against a real guest is an
end-to-end test (tests/e2e/test_cli_guest.py).
"""

from __future__ import annotations

import io
import os
import pty
import socket
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.unit.cli.cli_support import GuestFactory, Zc

from zcompute.cli import _console as console_module
from zcompute.cli._console import ESCAPE, ConsoleSession
from zcompute.errors import VirtError

LOG = b"".join(f"line {i}\n".encode() for i in range(1, 11))


def _log_path(zc: Zc, uuid: str) -> Path:
    return zc.data_dir / "instances" / uuid / "console.log"


@pytest.fixture
def following(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set once ``console-log --follow`` reads the log past what it printed at first: from
    then on, what is appended is followed (no guess how long the command takes to start)."""
    event = threading.Event()
    original = console_module._read_from

    def read_from(path: Path, offset: int) -> tuple[bytes, int]:
        event.set()
        return original(path, offset)

    monkeypatch.setattr(console_module, "_read_from", read_from)
    return event


def _when(event: threading.Event, action: Callable[[], object]) -> threading.Thread:
    """Run ``action`` in a thread as soon as ``event`` is set (not at all if it never is)."""

    def wait_then_act() -> None:
        if event.wait(60):
            action()

    thread = threading.Thread(target=wait_then_act)
    thread.start()
    return thread


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def test_console_log_prints_the_log_and_its_tail(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest(log=LOG + b"binary \xff\xfe tail")
    whole = zc("console-log", guest.name)
    assert whole.code == 0
    assert whole.out.startswith("line 1\nline 2\n")
    tail = zc("console-log", guest.name, "--tail", "2")
    # invalid UTF-8 passes through; an unfinished last line gets its newline
    assert tail.out == "line 10\nbinary \ufffd\ufffd tail\n"
    assert zc("console-log", guest.name, "--tail", "0").out == ""


def test_follow_until_a_line_matches(
    zc: Zc, make_guest: GuestFactory, following: threading.Event
) -> None:
    guest = make_guest(log=LOG)
    lines = b"booting\nZCOMPUTE-GUEST-READY arch=x\n"
    writer = _when(following, lambda: _append(_log_path(zc, guest.uuid), lines))
    result = zc(
        "console-log",
        guest.name,
        "--tail",
        "1",
        "--follow",
        "--until",
        r"READY arch=\w",
        "--timeout",
        "20",
    )
    writer.join()
    assert result.code == 0, result
    assert result.out == "line 10\nbooting\nZCOMPUTE-GUEST-READY arch=x\n"


def test_follow_until_returns_at_once_when_the_log_already_matches(
    zc: Zc, make_guest: GuestFactory
) -> None:
    guest = make_guest(log=LOG)
    result = zc("console-log", guest.name, "--follow", "--until", "line 3", "--timeout", "20")
    assert result.code == 0  # it matched: a wait that ran out would have exited 1


def test_follow_until_times_out_with_exit_1(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest(log=LOG)
    result = zc("console-log", guest.name, "--follow", "--until", "NEVER", "--timeout", "0.5")
    assert result.code == 1
    assert result.err == "zcompute: error: no console line matched 'NEVER' within 0.5 s\n"


def test_follow_ends_when_the_guest_is_deleted(
    zc: Zc, make_guest: GuestFactory, following: threading.Event
) -> None:
    guest = make_guest(log=LOG)

    def delete() -> None:
        driver = zc.driver()
        driver.destroy(guest.uuid)
        driver.close()

    deleter = _when(following, delete)
    result = zc("console-log", guest.name, "--follow", "--tail", "0")
    deleter.join()
    assert result.code == 0
    assert "the instance is gone" in result.err


def test_console_log_usage_errors(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest()
    assert zc("console-log", guest.name, "--until", "x").code == 2
    assert zc("console-log", guest.name, "--tail", "-1").code == 2
    bad_regex = zc("console-log", guest.name, "--follow", "--until", "(")
    assert bad_regex.code == 2
    assert "not a regular expression" in bad_regex.err


# -- the interactive relay -------------------------------------------------------------------


class LoopbackStream:
    """A console stream over a socket pair; the far end is a thread acting as a guest shell.

    The shell echoes what it receives, prefixed with ``echo:``; receiving ``exit`` closes the
    connection, which the stream reports as a VirtError like a console of a guest that stopped.
    """

    def __init__(self) -> None:
        self.near, far = socket.socketpair()
        self.received = bytearray()
        self.closed = False
        self._shell = threading.Thread(target=self._serve, args=(far,), daemon=True)
        self._shell.start()

    def _serve(self, far: socket.socket) -> None:
        with far:
            while data := far.recv(4096):
                self.received += data
                if b"exit" in data:
                    return
                far.sendall(b"echo:" + data)

    def read(self, timeout: float) -> bytes:
        self.near.settimeout(timeout)
        try:
            data = self.near.recv(4096)
        except TimeoutError:
            return b""
        if not data:
            raise VirtError("the console was closed: the guest stopped")
        return data

    def write(self, data: bytes) -> int:
        self.near.sendall(data)
        return len(data)

    def finish(self) -> bytes:
        """End the input to the shell and wait until it has taken all of it: everything the
        session wrote, which :attr:`received` then holds (the shell runs in its own thread)."""
        self.near.shutdown(socket.SHUT_WR)
        self._shell.join(60)
        assert not self._shell.is_alive(), "the shell never saw the end of its input"
        return bytes(self.received)

    def close(self) -> None:
        self.closed = True
        self.near.close()


@pytest.fixture
def stream() -> Iterator[LoopbackStream]:
    loop = LoopbackStream()
    yield loop
    loop.close()


class Output(io.BytesIO):
    """The session's output; once it holds ``awaited``, the session's linger ends (so a test
    waits for the guest's answer itself, not for a delay it hopes is long enough)."""

    def __init__(self, awaited: bytes) -> None:
        super().__init__()
        self.awaited = awaited
        self.session: ConsoleSession | None = None

    def write(self, data: bytes) -> int:  # type: ignore[override]
        written = super().write(data)
        if self.session is not None and self.awaited in self.getvalue():
            self.session.stop.set()
        return written


def test_pipe_input_is_passed_through_and_output_relayed(stream: LoopbackStream) -> None:
    output = Output(b"ls /\n")
    session = output.session = ConsoleSession(stream, io.BytesIO(b"uname -m\nls /\n"), output)
    session.run(linger=60)  # ends when the last line's echo is relayed
    assert stream.finish() == b"uname -m\nls /\n"
    assert b"echo:uname -m\n" in output.getvalue()
    assert b"ls /\n" in output.getvalue()


def test_escape_in_piped_input_ends_the_session(stream: LoopbackStream) -> None:
    session = ConsoleSession(
        stream, io.BytesIO(b"first\nsec" + ESCAPE + b"ond\nthird\n"), io.BytesIO()
    )
    # input that ends would make the session linger for an hour: only ^] ends it this soon
    runner = threading.Thread(target=session.run, kwargs={"linger": 3600})
    runner.start()
    runner.join(60)
    ended = not runner.is_alive()
    session.stop.set()  # a session that lingers after all: let it go
    runner.join()
    assert ended, "^] did not end the session"
    received = stream.finish()
    assert received.startswith(b"first\nsec")
    assert b"ond" not in received
    assert b"third" not in received


def test_a_guest_that_goes_away_ends_the_session_with_its_error(stream: LoopbackStream) -> None:
    session = ConsoleSession(stream, io.BytesIO(b"exit\n"), io.BytesIO())
    with pytest.raises(VirtError, match="guest stopped"):
        session.run(linger=30)


def test_terminal_is_raw_during_the_session_and_restored_after(stream: LoopbackStream) -> None:
    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        seen_modes: list[list[object]] = []

        def type_keys() -> None:
            # once the session made the terminal raw (a line discipline without ICANON)
            deadline = time.monotonic() + 60
            while termios.tcgetattr(slave)[3] & termios.ICANON:
                if time.monotonic() >= deadline:
                    os.write(master, ESCAPE)  # give up: the asserts below say why
                    return
                time.sleep(0.01)
            seen_modes.append(termios.tcgetattr(slave))
            os.write(master, b"ab\x03")  # ^C goes to the guest, it does not stop us
            os.write(master, ESCAPE)

        typist = threading.Thread(target=type_keys)
        typist.start()
        output = io.BytesIO()
        with os.fdopen(os.dup(slave), "rb", buffering=0) as stdin:
            ConsoleSession(stream, stdin, output).run(linger=0)
        typist.join()
        assert seen_modes, "the terminal never became raw"
        assert stream.finish() == b"ab\x03"
        during = seen_modes[0]
        assert not during[3] & termios.ICANON  # lflag: no line editing
        assert not during[3] & termios.ECHO
        assert not during[3] & termios.ISIG  # ^C is a byte for the guest
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
