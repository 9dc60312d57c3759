"""Per-instance locks: operations on one instance serialise, different instances run in parallel."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class InstanceLocks:
    """A lock per key (instance UUID or name), created on first use."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}

    @contextlib.contextmanager
    def hold(self, *keys: str) -> Iterator[None]:
        """Hold the locks of all ``keys`` (taken in sorted order, so two holders never deadlock)."""
        with self._guard:
            locks = [self._locks.setdefault(key, threading.RLock()) for key in sorted(set(keys))]
        with contextlib.ExitStack() as stack:
            for lock in locks:
                stack.enter_context(lock)
            yield
