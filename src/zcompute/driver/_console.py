"""Reading a guest's console log: bounded tails and waiting for a line."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from zcompute.errors import Timeout

DEFAULT_TAIL = 100 * 1024


def tail(path: Path, max_bytes: int = DEFAULT_TAIL) -> bytes:
    """The last ``max_bytes`` of ``path`` (empty if it does not exist), in bounded memory."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - max_bytes))
            return handle.read(max_bytes)
    except FileNotFoundError:
        return b""


def wait_for_line(
    path: Path,
    pattern: str | re.Pattern[str],
    timeout: float,
    still_running: Callable[[], bool],
    poll: float = 0.1,
) -> str:
    """Wait until a line of the console log matches ``pattern``; returns that line.

    Reads only what was appended since the last poll. Gives up early, with the log's tail in
    the error, when the guest stops running before the line appears.
    """
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    deadline = time.monotonic() + timeout
    offset, pending = 0, ""
    while True:
        chunk, offset = _read_from(path, offset)
        pending += chunk
        *lines, pending = pending.split("\n")
        for line in [*lines, pending]:
            if regex.search(line):
                return line.rstrip("\r")
        if time.monotonic() >= deadline:
            raise Timeout(f"no console line matched {regex.pattern!r} within {timeout:.0f} s")
        if not still_running():
            log_tail = tail(path, 2048).decode(errors="replace")
            raise Timeout(
                f"the guest stopped before a console line matched {regex.pattern!r}; "
                f"console log ends with:\n{log_tail}"
            )
        time.sleep(poll)


def _read_from(path: Path, offset: int) -> tuple[str, int]:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return "", offset
    return data.decode(errors="replace"), offset + len(data)
