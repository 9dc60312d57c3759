"""A FIFO that cannot hang a test: a reader blocked on it is seen at once, set free, and the
test fails.

Opening a FIFO for reading waits for a writer (unless opened non-blocking, which is how a
careful reader checks what it opened). The kernel shows that wait as the task's wait channel
``wait_for_partner``; the guard looks for it among the threads of this process and of its
children (a command may run ``qemu-img`` on a path) and, when it finds one, opens the FIFO
for writing: the reader's open returns, it reads end of file, and :attr:`FifoGuard.rescued`
records that a reader blocked. The verdict is the event itself, not how long anything took.

Where the kernel shows no wait channels, a reader still waiting after BACKSTOP_SECONDS is set
free the same way: later, but the test still fails instead of hanging.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

#: How often the guard looks for a blocked reader.
POLL_SECONDS = 0.02
#: Only where wait channels cannot be read: a reader waiting this long is set free anyway.
BACKSTOP_SECONDS = 60.0
# fs/pipe.c: fifo_open() waits here for the other end
_FIFO_OPEN_WAIT = "wait_for_partner"


def _process_tree(root: int) -> list[int]:
    """``root`` and every process descending from it."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue  # it ended meanwhile
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def _waits_in_a_fifo_open(pid: int) -> bool:
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/task/{tid}/wchan").read_text() == _FIFO_OPEN_WAIT:
                    return True
    return False


class FifoGuard:
    """A FIFO whose blocked reader is found, set free and recorded (:attr:`rescued`)."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.rescued = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        backstop = time.monotonic() + BACKSTOP_SECONDS
        me = os.getpid()
        while not self._done.wait(POLL_SECONDS):
            blocked = any(_waits_in_a_fifo_open(pid) for pid in _process_tree(me))
            if blocked or time.monotonic() >= backstop:
                self._free_a_reader()

    def _free_a_reader(self) -> None:
        try:  # succeeds only while this FIFO has a reader (not one blocked on another FIFO)
            os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            return
        self.rescued = True

    def close(self) -> None:
        self._done.set()
        self._thread.join()
