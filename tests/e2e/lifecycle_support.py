"""Helpers for the lifecycle end-to-end tests: console commands, log watching, timings.

The test guest's init (``zcompute/testimage/init.sh``) keeps a shell on the interactive console
and reports on the log console: ``ZCOMPUTE-GUEST-READY`` at boot, then its disks and NICs,
``ZCOMPUTE-BLOCK added/removed`` and ``ZCOMPUTE-NIC added/removed`` on hotplug, and
``ZCOMPUTE-SHUTDOWN-REQUESTED`` when the host asks it to shut down.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from zcompute.driver import ComputeDriver
from zcompute.errors import Timeout
from zcompute.virt import ConsoleStream

BOOTED = "ZCOMPUTE-DEVICES-END"  # the last line of a boot report
SHUTDOWN_REQUESTED = "ZCOMPUTE-SHUTDOWN-REQUESTED"
SHUTDOWN_IGNORED = "ZCOMPUTE-SHUTDOWN-IGNORED"
# Makes the test guest's init ignore shutdown requests (in RAM: a boot clears it).
IGNORE_SHUTDOWN = "touch /tmp/zcompute-ignore-shutdown"

_counter = itertools.count(1)


class LogWatch:
    """Follows a guest's log console from now on, also across boots; use as a context manager.

    A thread reads what is appended every 20 ms into a transcript. The s390x line-mode console
    file is truncated when QEMU starts (x86's virtlogd log is appended to): a shrinking file is
    read again from its start, so lines written just before a restart are not lost.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._transcript = ""
        self._mark = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._offset = self._size()  # only what is written from now on
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _follow(self) -> None:
        while not self._stop.wait(0.02):
            if self._size() < self._offset:
                self._offset = 0  # truncated by a new QEMU: read the new file from its start
            try:
                with self.path.open("rb") as handle:
                    handle.seek(self._offset)
                    data = handle.read()
            except FileNotFoundError:
                continue
            self._offset += len(data)
            with self._lock:
                self._transcript += data.decode(errors="replace")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> LogWatch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def mark(self) -> int:
        """From now on, only lines written after this moment count; returns the position."""
        with self._lock:
            self._mark = len(self._transcript)
            return self._mark

    def lines_since(self, position: int, pattern: str) -> list[str]:
        """Lines matching ``pattern`` written since ``position`` (a :meth:`mark` result)."""
        with self._lock:
            text = self._transcript[position:]
        return [line for line in text.splitlines() if re.search(pattern, line)]

    def wait(self, pattern: str, timeout: float = 60.0) -> str:
        """Wait for a line matching ``pattern`` since the last mark; the mark moves past it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                text = self._transcript[self._mark :]
                match = regex.search(text)
                if match:
                    # s390x's line-mode console writes a line's newline only with the next line
                    end = text.find("\n", match.end())
                    end = len(text) if end < 0 else end
                    start = text.rfind("\n", 0, match.start()) + 1
                    self._mark += end
                    return text[start:end].rstrip("\r")
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no line matching {pattern!r} in {self.path} after {timeout} s; "
                    f"since the mark it shows:\n{text[-2000:]}"
                )
            time.sleep(0.02)


def wait_for_shell(stream: ConsoleStream, timeout: float = 30.0) -> None:
    """Wait until the guest's console shell answers (it starts just after the boot report)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            run(stream, "true", timeout=1.5)
            return
        except Timeout:
            if time.monotonic() >= deadline:
                raise


def run(stream: ConsoleStream, command: str, timeout: float = 20.0) -> str:
    """Run a shell command on the guest's console; returns its output.

    The output is framed by markers the shell computes (``$((n+1000))``), so the echo of the
    typed command line never matches them; kernel messages that the x86 serial console (also
    the log console) interleaves are dropped.
    """
    n = next(_counter) + 1000
    stream.read(0.01)  # drop what came before
    begin, end = f"ZCBEGIN{n}", f"ZCDONE{n}"
    stream.write(f"echo ZCBEGIN$(({n}+0)); {command}; echo ZCDONE$(({n}+0))\n".encode())
    text = stream.read_until(end.encode(), timeout).decode(errors="replace")
    body = text.rsplit(end, 1)[0].split(begin, 1)[-1]
    lines = [line for line in body.replace("\r", "").split("\n") if not _KERNEL.match(line)]
    return "\n".join(lines).strip()


_KERNEL = re.compile(r"\[\s*\d+\.\d+\] ")


def qemu_pid(name: str) -> int:
    """The pid of the QEMU running guest ``name`` (libvirt's pid file)."""
    return int(Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip())


@contextlib.contextmanager
def timed(arch: str, operation: str) -> Iterator[None]:
    """Time an operation; with ZCOMPUTE_TIMINGS=FILE set, append the figure to FILE (JSONL)."""
    start = time.monotonic()
    yield
    seconds = time.monotonic() - start
    target = os.environ.get("ZCOMPUTE_TIMINGS")
    if target:
        with open(target, "a") as handle:
            handle.write(json.dumps({"arch": arch, "op": operation, "s": round(seconds, 3)}) + "\n")


_TIOCVHANGUP = 0x5437  # linux/asm-generic/ioctls.h (x86, arm, s390); Python's termios lacks it


def hang_up_console_pty(driver: ComputeDriver, name: str) -> None:
    """Hang up the pty behind the guest's interactive console, as a dropped line would: every
    open file of it (libvirtd's too) reads end of file, while QEMU and the guest run on."""
    path = driver.get_serial_console(name).pty
    assert path is not None
    assert path.startswith("/dev/pts/"), path
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, _TIOCVHANGUP)
    finally:
        os.close(fd)


def wait_until_reopened(stream: ConsoleStream, count: int, timeout: float = 10.0) -> None:
    """Read until the stream has noticed a hang-up and opened the console again.

    Writing before libvirtd noticed the hang-up itself makes libvirtd 11.3 write into the
    hung-up pty, fail, and abort (a double free in its stream's error path; libvirt 9 just
    reports the error): keystrokes are sent only once the stream knows the line dropped.
    """
    deadline = time.monotonic() + timeout
    while stream.reopens < count:
        assert time.monotonic() < deadline, f"the console was not reopened within {timeout} s"
        stream.read(0.1)


def open_shell(driver: ComputeDriver, name: str) -> ConsoleStream:
    stream = driver.open_console(name)
    wait_for_shell(stream)
    return stream
