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
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.cli.cli_support import GuestFactory, Zc

from zcompute.cli._console import ESCAPE, ConsoleSession
from zcompute.errors import VirtError

LOG = b"".join(f"line {i}\n".encode() for i in range(1, 11))


def _log_path(zc: Zc, uuid: str) -> Path:
    return zc.data_dir / "instances" / uuid / "console.log"


def _append_later(path: Path, data: bytes, delay: float = 0.4) -> threading.Thread:
    def append() -> None:
        time.sleep(delay)
        with path.open("ab") as handle:
            handle.write(data)

    thread = threading.Thread(target=append)
    thread.start()
    return thread


def test_console_log_prints_the_log_and_its_tail(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest(log=LOG + b"binary \xff\xfe tail")
    whole = zc("console-log", guest.name)
    assert whole.code == 0
    assert whole.out.startswith("line 1\nline 2\n")
    tail = zc("console-log", guest.name, "--tail", "2")
    # invalid UTF-8 passes through; an unfinished last line gets its newline
    assert tail.out == "line 10\nbinary \ufffd\ufffd tail\n"
    assert zc("console-log", guest.name, "--tail", "0").out == ""


def test_follow_until_a_line_matches(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest(log=LOG)
    writer = _append_later(_log_path(zc, guest.uuid), b"booting\nZCOMPUTE-GUEST-READY arch=x\n")
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


def test_follow_ends_when_the_guest_is_deleted(zc: Zc, make_guest: GuestFactory) -> None:
    guest = make_guest(log=LOG)

    def delete_later() -> None:
        time.sleep(0.5)
        driver = zc.driver()
        driver.destroy(guest.uuid)
        driver.close()

    deleter = threading.Thread(target=delete_later)
    deleter.start()
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

    def close(self) -> None:
        self.closed = True
        self.near.close()


@pytest.fixture
def stream() -> Iterator[LoopbackStream]:
    loop = LoopbackStream()
    yield loop
    loop.close()


def test_pipe_input_is_passed_through_and_output_relayed(stream: LoopbackStream) -> None:
    output = io.BytesIO()
    session = ConsoleSession(stream, io.BytesIO(b"uname -m\nls /\n"), output)
    session.run(linger=0.5)
    assert bytes(stream.received) == b"uname -m\nls /\n"
    assert b"echo:uname -m\n" in output.getvalue()
    assert b"ls /\n" in output.getvalue()


def test_escape_in_piped_input_ends_the_session(stream: LoopbackStream) -> None:
    output = io.BytesIO()
    started = time.monotonic()
    ConsoleSession(stream, io.BytesIO(b"first\nsec" + ESCAPE + b"ond\nthird\n"), output).run(
        linger=30
    )
    assert time.monotonic() - started < 5  # ^] does not linger
    assert bytes(stream.received).startswith(b"first\nsec")
    assert b"ond" not in stream.received
    assert b"third" not in stream.received


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
            time.sleep(0.3)
            seen_modes.append(termios.tcgetattr(slave))
            os.write(master, b"ab\x03")  # ^C goes to the guest, it does not stop us
            time.sleep(0.3)
            os.write(master, ESCAPE)

        typist = threading.Thread(target=type_keys)
        typist.start()
        output = io.BytesIO()
        with os.fdopen(os.dup(slave), "rb", buffering=0) as stdin:
            ConsoleSession(stream, stdin, output).run(linger=0)
        typist.join()
        assert bytes(stream.received) == b"ab\x03"
        during = seen_modes[0]
        assert not during[3] & termios.ICANON  # lflag: no line editing
        assert not during[3] & termios.ECHO
        assert not during[3] & termios.ISIG  # ^C is a byte for the guest
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
