from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from zcompute.driver._console import tail, wait_for_line
from zcompute.driver._locks import InstanceLocks
from zcompute.driver._undo import UndoStack
from zcompute.errors import Timeout


def test_undo_runs_newest_first_and_continues_past_a_failing_step() -> None:
    done: list[str] = []
    undo = UndoStack()
    undo.push("first", lambda: done.append("first"))
    undo.push("broken", lambda: 1 / 0)
    undo.push("last", lambda: done.append("last"))
    failed = undo.rollback()
    assert done == ["last", "first"]
    assert failed == ["broken: division by zero"]


def test_undo_keeps_what_older_steps_made_when_a_step_they_depend_on_fails() -> None:
    done: list[str] = []
    undo = UndoStack()
    undo.push("delete the record", lambda: done.append("record"))
    undo.push("remove the folder", lambda: done.append("folder"))
    undo.push("destroy the domain", lambda: 1 / 0, needed_by_older=True)
    undo.push("remove the tap", lambda: done.append("tap"))
    failed = undo.rollback()
    assert done == ["tap"]  # the record still names the domain that could not be destroyed
    assert failed == [
        "destroy the domain: division by zero",
        "remove the folder: kept, since the step above failed",
        "delete the record: kept, since the step above failed",
    ]


def test_undo_runs_each_action_through_its_guard() -> None:
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("gone for a moment")

    def retry_once(action: Callable[[], object]) -> object:
        try:
            return action()
        except OSError:
            return action()

    undo = UndoStack(guard=retry_once)
    undo.push("flaky", flaky, needed_by_older=True)
    assert undo.rollback() == []
    assert len(attempts) == 2


def test_tail_reads_only_the_end_of_a_large_file(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(b"x" * 5_000_000 + b"THE END")
    assert tail(log, 7) == b"THE END"
    assert tail(tmp_path / "missing.log") == b""


def test_wait_for_line_sees_lines_appended_later(tmp_path: Path) -> None:
    log = tmp_path / "console.log"

    def writer() -> None:
        with log.open("a") as handle:
            for line in ("booting", "ZCOMPUTE-GUEST-READY arch=s390x"):
                time.sleep(0.05)
                handle.write(line + "\n")
                handle.flush()

    threading.Thread(target=writer).start()
    line = wait_for_line(log, r"READY arch=(\S+)", 60, lambda: True, poll=0.01)
    assert line == "ZCOMPUTE-GUEST-READY arch=s390x"


def test_wait_for_line_gives_up_when_the_guest_stops(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_text("Kernel panic - not syncing\n")
    with pytest.raises(Timeout, match=r"(?s)stopped before.*Kernel panic"):
        wait_for_line(log, "READY", 5, lambda: False, poll=0.01)


def test_wait_for_line_times_out(tmp_path: Path) -> None:
    with pytest.raises(Timeout, match="within 0 s"):
        wait_for_line(tmp_path / "none.log", "READY", 0.05, lambda: True, poll=0.01)


class WatchedLock:
    """A lock that tells when a thread finds it taken and starts to wait for it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.waited = threading.Event()

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self.waited.set()
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_instance_locks_serialise_one_key_not_others() -> None:
    locks = InstanceLocks()
    watched = locks._locks["a"] = WatchedLock()  # type: ignore[assignment]
    order: list[str] = []

    def second_holder_of_a() -> None:
        with locks.hold("a"):
            order.append("a2")

    with locks.hold("a"):
        other = threading.Thread(target=lambda: locks.hold("b").__enter__() and None)
        other.start()
        other.join(60)
        assert not other.is_alive()  # a different key is not blocked
        blocked = threading.Thread(target=second_holder_of_a)
        blocked.start()
        assert watched.waited.wait(60)  # the same key waits ...
        assert order == []
    blocked.join(60)
    assert order == ["a2"]  # ... until it is released
