"""Rollback of multi-step operations: every step that creates something registers its undo."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType

LOG = logging.getLogger("zcompute.driver")

Guard = Callable[[Callable[[], object]], object]


def _run(action: Callable[[], object]) -> object:
    return action()


class UndoStack:
    """Undo actions run in reverse order when an operation fails part-way.

    An undo that fails itself is logged and the remaining ones still run: a rollback must
    remove as much as it can rather than stop at the first obstacle. Except where an undo was
    pushed with ``needed_by_older=True``: if it fails, what older steps created (the record
    that names a domain, the folder of its disks) is kept, so that nothing still there is
    forgotten; the kept steps are reported as failed too.

    ``guard`` runs each undo action; the driver passes one that waits for a libvirtd that went
    away to come back and tries once more.

    Used as a context manager, the stack rolls back when the block raises (anything, SIGTERM's
    exception and Ctrl-C included) and attaches what it could not undo to that exception as a
    note; the original exception is what the caller sees. This is the one way operations
    roll back.
    """

    def __init__(self, guard: Guard = _run) -> None:
        self._actions: list[tuple[str, Callable[[], object], bool]] = []
        self._guard = guard

    def push(
        self, what: str, action: Callable[[], object], *, needed_by_older: bool = False
    ) -> None:
        self._actions.append((what, action, needed_by_older))

    def rollback(self) -> list[str]:
        """Run every undo action, newest first; returns descriptions of those that failed."""
        failed: list[str] = []
        while self._actions:
            what, action, needed = self._actions.pop()
            try:
                self._guard(action)
            except Exception as err:
                LOG.error("rollback: could not %s: %s", what, err)
                failed.append(f"{what}: {err}")
                if needed:
                    failed += [
                        f"{older}: kept, since the step above failed"
                        for older, *_ in reversed(self._actions)
                    ]
                    self._actions.clear()
        return failed

    def __enter__(self) -> UndoStack:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if error is None:
            self.forget()
            return
        failed = self.rollback()
        if failed:
            error.add_note(f"rollback incomplete: {'; '.join(failed)}")

    def forget(self) -> None:
        """The operation succeeded: nothing to undo any more."""
        self._actions.clear()
