"""A FIFO that cannot hang a test: a reader blocked on it is set free, and the test fails."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

#: After this long a reader still blocked on a FIFO is considered hung (and set free).
HANG_SECONDS = 5.0


class FifoGuard:
    """A FIFO whose blocked reader is set free after HANG_SECONDS, so a test fails, not hangs."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.rescued = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._rescue, daemon=True)
        self._thread.start()

    def _rescue(self) -> None:
        if self._done.wait(HANG_SECONDS):
            return
        while not self._done.is_set():
            try:  # succeeds only while a reader waits in open(): that reader hung
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
                self.rescued = True
            except OSError:
                time.sleep(0.05)

    def close(self) -> None:
        self._done.set()
        self._thread.join()
