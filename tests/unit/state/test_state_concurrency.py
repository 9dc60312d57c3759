"""Thread safety, and two handles on one file (as a CLI next to a running service)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from zcompute.model import Instance, InstanceState, Task
from zcompute.state import StateDB

NewInstance = Callable[..., Instance]
THREADS = 8
PER_THREAD = 15


def _lifecycle(db: StateDB, inst: Instance) -> None:
    db.add_instance(inst)
    db.begin_task(inst.uuid, Task.SPAWNING)
    db.update_instance(inst.uuid, metadata={"worker": threading.current_thread().name})
    db.end_task(inst.uuid, InstanceState.RUNNING)


def test_threads_writing_different_instances(db: StateDB, new_instance: NewInstance) -> None:
    batches = [[new_instance(f"vm-{t}-{n}") for n in range(PER_THREAD)] for t in range(THREADS)]
    start = threading.Barrier(THREADS)

    def work(batch: list[Instance]) -> None:
        start.wait()
        for inst in batch:
            _lifecycle(db, inst)

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(work, batch) for batch in batches]:
            future.result()

    stored = db.list_instances()
    assert len(stored) == THREADS * PER_THREAD
    assert all(i.state is InstanceState.RUNNING and i.task is None for i in stored)
    assert all(i.metadata["worker"] for i in stored)
    assert db.instances_with_task() == []


def test_only_one_of_many_racing_tasks_wins(db: StateDB, new_instance: NewInstance) -> None:
    inst = db.add_instance(new_instance("vm-race"))
    start = threading.Barrier(THREADS)
    outcomes: list[str] = []

    def attempt(_: int) -> None:
        start.wait()
        try:
            db.begin_task(inst.uuid, Task.REBOOTING)
            outcomes.append("won")
        except Exception as err:
            outcomes.append(type(err).__name__)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(attempt, range(THREADS)))
    assert outcomes.count("won") == 1
    assert outcomes.count("InvalidState") == THREADS - 1


def test_two_handles_on_one_file_interleave_writes(
    db_path: Path, db: StateDB, new_instance: NewInstance
) -> None:
    other = StateDB(db_path)
    try:
        start = threading.Barrier(2)

        def work(handle: StateDB, prefix: str) -> None:
            start.wait()
            for n in range(20):
                _lifecycle(handle, new_instance(f"{prefix}-{n}"))

        threads = [
            threading.Thread(target=work, args=(db, "a")),
            threading.Thread(target=work, args=(other, "b")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(other.list_instances()) == len(db.list_instances()) == 40
    finally:
        other.close()


def test_reader_never_sees_half_a_transaction(db: StateDB, new_instance: NewInstance) -> None:
    inside = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with db.transaction():
            db.add_instance(new_instance("vm-1"))
            inside.set()
            release.wait(60)
            db.add_instance(new_instance("vm-2"))

    thread = threading.Thread(target=writer)
    thread.start()
    assert inside.wait(60)
    seen: list[int] = []
    reader = threading.Thread(target=lambda: seen.append(len(db.list_instances())))
    reader.start()
    release.set()
    thread.join()
    reader.join()
    assert seen == [2]  # the reader waited for the commit instead of seeing one of two
