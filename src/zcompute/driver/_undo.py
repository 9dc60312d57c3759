"""Rollback of multi-step operations: every step that creates something registers its undo."""

from __future__ import annotations

import logging
from collections.abc import Callable

LOG = logging.getLogger("zcompute.driver")


class UndoStack:
    """Undo actions run in reverse order when an operation fails part-way.

    An undo that fails itself is logged and the remaining ones still run: a rollback must
    remove as much as it can rather than stop at the first obstacle.
    """

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], object]]] = []

    def push(self, what: str, action: Callable[[], object]) -> None:
        self._actions.append((what, action))

    def rollback(self) -> list[str]:
        """Run every undo action, newest first; returns descriptions of those that failed."""
        failed: list[str] = []
        while self._actions:
            what, action = self._actions.pop()
            try:
                action()
            except Exception as err:
                LOG.error("rollback: could not %s: %s", what, err)
                failed.append(f"{what}: {err}")
        return failed

    def forget(self) -> None:
        """The operation succeeded: nothing to undo any more."""
        self._actions.clear()
