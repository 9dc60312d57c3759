"""Talking to a guest's interactive console that is a raw TCP endpoint (config ``serial_tcp``).

What Nova's serial proxy does, without the websocket: connect to the port, send keystrokes,
read the bytes the guest writes. The test image keeps a shell on that console.
"""

from __future__ import annotations

import socket
import time

ANSWER_COMMAND = b"echo zc-$((6*7))\n"  # the typed line's echo never shows the answer
ANSWER = b"zc-42"


def shell_answers(host: str, port: int, timeout: float = 60.0) -> bytes:
    """Connect to ``host``:``port`` and run ``echo zc-$((6*7))`` until ``zc-42`` comes back
    (the shell may still be starting: the line is sent again every few seconds). Returns what
    the console showed; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    seen = b""
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.settimeout(0.5)
        next_send = 0.0
        while ANSWER not in seen:
            now = time.monotonic()
            assert now < deadline, f"no {ANSWER!r} from {host}:{port}; it showed {seen[-500:]!r}"
            if now >= next_send:
                conn.sendall(ANSWER_COMMAND)
                next_send = now + 3.0
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            assert data, f"{host}:{port} closed the connection; it showed {seen[-500:]!r}"
            seen += data
    return seen
