"""``zcompute console-log`` (the log console's file) and ``zcompute console`` (interactive).

``console`` relays between the terminal and the guest's interactive console stream, like
``virsh console``: ``^]`` (Ctrl + ]) leaves. On a terminal, stdin is put in raw mode so every
key reaches the guest; otherwise (a pipe) input is passed through as it comes, and after the
input ends the guest's output is relayed for ``--linger`` seconds more, so that a script can
send a command and read its answer.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import sys
import termios
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import click

from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._render import compile_regex, open_driver
from zcompute.cli._types import SECONDS
from zcompute.driver import ComputeDriver
from zcompute.errors import NotFound, Timeout, ZcomputeError

__all__ = ["ESCAPE", "ConsoleSession", "ConsoleStream", "console", "console_log"]

ESCAPE = b"\x1d"  # ^], as in virsh and telnet
_POLL = 0.2


# -- console-log ------------------------------------------------------------------------------


@cli.command("console-log")
@click.argument("name")
@click.option(
    "--tail", "lines", type=click.IntRange(min=0), metavar="N", help="Print only the last N lines."
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing what the guest writes.")
@click.option(
    "--until", "until", metavar="REGEX", help="With --follow: stop once a line matches REGEX."
)
@click.option(
    "--timeout",
    type=SECONDS,
    metavar="SECONDS",
    help="With --until: give up (exit 1) after SECONDS.",
)
@pass_app
def console_log(
    app: AppContext,
    name: str,
    lines: int | None,
    follow: bool,
    until: str | None,
    timeout: float | None,
) -> None:
    """Print the guest's boot and console log (the log console: sclplm on s390x)."""
    if (until is not None or timeout is not None) and not follow:
        raise click.UsageError("--until and --timeout need --follow")
    pattern = compile_regex("--until", until)
    with open_driver(app) as driver:
        inst = driver.get_instance(name)
        path = driver.console_log_path(inst.uuid)
        text = driver.get_console_output(inst.uuid)
        if lines is not None:
            text = b"".join(text.splitlines(keepends=True)[-lines:] if lines else [])
        out = _binary_stdout()
        out.write(text)
        if not follow and text and not text.endswith(b"\n"):
            out.write(b"\n")  # the guest's last line may be unfinished; the shell's prompt is not
        out.flush()
        if not follow:
            return
        if pattern is not None and any(pattern.search(x) for x in _lines_of(text)):
            return
        _follow(driver, inst.uuid, path, pattern, timeout, out)


def _binary_stdout() -> BinaryIO:
    """Standard output for bytes (a guest's output is not always valid UTF-8)."""
    sys.stdout.flush()  # keep the order of anything already written as text
    return sys.stdout.buffer


def _lines_of(data: bytes) -> list[str]:
    return data.decode(errors="replace").splitlines()


def _follow(
    driver: ComputeDriver,
    uuid: str,
    path: Path,
    pattern: re.Pattern[str] | None,
    timeout: float | None,
    out: BinaryIO,
) -> None:
    """Print what is appended to the log until the pattern matches, time runs out or the
    instance is deleted (Ctrl-C ends it too)."""
    offset = path.stat().st_size if path.exists() else 0
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = b""
    next_check = time.monotonic() + 1.0
    while True:
        chunk, offset = _read_from(path, offset)
        if chunk:
            out.write(chunk)
            out.flush()
            pending += chunk
            *complete, pending = pending.split(b"\n")
            if pattern is not None and any(
                pattern.search(x) for x in _lines_of(b"\n".join([*complete, pending]))
            ):
                return
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            assert pattern is not None
            raise Timeout(f"no console line matched {pattern.pattern!r} within {timeout:g} s")
        if now >= next_check:  # a deleted guest's log ends: stop following it
            next_check = now + 1.0
            if not driver.instance_exists(uuid):
                click.echo("\n(the instance is gone)", err=True)
                return
        time.sleep(_POLL)


def _read_from(path: Path, offset: int) -> tuple[bytes, int]:
    try:
        with path.open("rb") as handle:
            if handle.seek(0, os.SEEK_END) < offset:
                offset = 0  # the log was truncated (a new boot): start again
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return b"", offset
    return data, offset + len(data)


# -- console ------------------------------------------------------------------------------------


class ConsoleStream(Protocol):
    """What the driver's ``open_console`` returns (the interactive console, both ways)."""

    def read(self, timeout: float) -> bytes: ...

    def write(self, data: bytes) -> object: ...

    def close(self) -> None: ...


class ConsoleSession:
    """Relays one interactive console: guest output to ``output``, ``input_`` to the guest."""

    def __init__(self, stream: ConsoleStream, input_: BinaryIO, output: BinaryIO) -> None:
        self.stream = stream
        self.input = input_
        self.output = output
        self.stop = threading.Event()
        self.error: ZcomputeError | None = None
        self._reader = threading.Thread(target=self._relay_output, daemon=True)

    def _relay_output(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.stream.read(_POLL)
            except ZcomputeError as err:  # the guest stopped or libvirt went away
                self.error = err
                self.stop.set()
                return
            if data:
                self.output.write(data)
                self.output.flush()

    def run(self, *, linger: float) -> None:
        """Relay until ^], the end of input (then ``linger`` seconds more) or the guest ends."""
        self._reader.start()
        try:
            fd = _fileno(self.input)
            if fd is not None and os.isatty(fd):
                self._pump_terminal(fd)
            else:
                if self._pump_pipe():
                    self.stop.wait(linger)
        finally:
            self.stop.set()
            self._reader.join()
        if self.error is not None:
            raise self.error

    def _pump_terminal(self, fd: int) -> None:
        with _raw_mode(fd):
            while not self.stop.is_set():
                ready, _, _ = select.select([fd], [], [], _POLL)
                if not ready:
                    continue
                data = os.read(fd, 1024)
                if not self._send(data):
                    return

    def _pump_pipe(self) -> bool:
        """Pass input lines through; True if the input ended (not ^] or a stopped guest)."""
        while not self.stop.is_set():
            line = self.input.readline()
            if not line:
                return True
            if not self._send(line):
                return False
        return False

    def _send(self, data: bytes) -> bool:
        """Send ``data`` up to the escape key; False once the session should end."""
        if not data:
            return False
        before, escape, _ = data.partition(ESCAPE)
        if before:
            self.stream.write(before)
        return not escape


def _fileno(stream: BinaryIO) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError, AttributeError):
        return None  # an in-memory stream (tests) or a closed one


@contextlib.contextmanager
def _raw_mode(fd: int) -> Iterator[None]:
    """Every key goes to the guest (^C included); the terminal is restored however we leave."""
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@cli.command()
@click.argument("name")
@click.option(
    "--linger",
    type=SECONDS,
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="When input is not a terminal: relay output this long after input ends.",
)
@pass_app
def console(app: AppContext, name: str, linger: float) -> None:
    """Connect to the guest's interactive console (sclp on s390x, serial elsewhere).

    Leave with ^] (Ctrl + ]).
    """
    with open_driver(app) as driver:
        inst = driver.get_instance(name)
        if not driver.instance_exists(inst.uuid):
            raise NotFound("domain", inst.name)
        with driver.open_console(inst.uuid) as stream:
            click.echo(
                f"Connected to {inst.name} ({inst.uuid}); escape character is ^] (Ctrl + ])",
                err=True,
            )
            session = ConsoleSession(stream, sys.stdin.buffer, _binary_stdout())
            session.run(linger=linger)
    click.echo(f"\r\nDisconnected from {inst.name}", err=True)
