"""A guest's boot timeline: when each milestone first appears in its console log."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["BootTimeline"]


class BootTimeline(threading.Thread):
    """Follows a console log file as it grows, noting when each milestone first appears.

    ``milestones`` are (label, regular expression) in the order a boot shows them;
    ``echo`` gets every new piece of text (the demo prints the boot log as it comes).
    Seconds are counted from the thread's creation.
    """

    def __init__(
        self,
        path: Path,
        milestones: tuple[tuple[str, str], ...],
        echo: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(daemon=True, name="boot-timeline")
        self.path, self.echo = path, echo
        self._stop_event = threading.Event()
        self._pending = [(label, re.compile(pattern)) for label, pattern in milestones]
        self.seen: dict[str, float] = {}
        self.started = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Stop following (after reading what is there) and return the timeline."""
        self._stop_event.set()
        self.join()
        return dict(self.seen)

    def run(self) -> None:
        offset, window = 0, ""
        while True:
            stopping = self._stop_event.is_set()
            chunk, offset = self._read(offset)
            if chunk:
                if self.echo is not None:
                    self.echo(chunk)
                window = (window + chunk)[-16384:]  # a milestone may straddle two reads
                self._note(window)
            if stopping:
                return
            self._stop_event.wait(0.1)

    def _read(self, offset: int) -> tuple[str, int]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return "", offset
        return data.decode(errors="replace"), offset + len(data)

    def _note(self, text: str) -> None:
        now = time.monotonic() - self.started
        while self._pending and self._pending[0][1].search(text):
            self.seen[self._pending.pop(0)[0]] = round(now, 1)
