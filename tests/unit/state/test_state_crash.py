"""A process killed mid-operation: the task it was running stays visible, nothing is torn."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from zcompute.model import InstanceState, Task
from zcompute.state import StateDB

_PRELUDE = """
import os, signal, sys
from pathlib import Path
from zcompute.model import Flavor, Image, Instance, Task, new_uuid, utcnow
from zcompute.state import StateDB

db = StateDB(Path(sys.argv[1]))
image_id = new_uuid()
image = db.add_image(Image(
    id=image_id, name="img", arch="s390x", disk_format="raw",
    path=Path(f"/data/images/{image_id}/disk"), kernel_path=None, initrd_path=None,
    cmdline=None, properties={}, size=1, sha256="0" * 64, created_at=utcnow()))
inst = Instance(uuid=new_uuid(), name="victim", flavor=Flavor("f", 1, 128, 1),
                image=image, arch="s390x")
"""


def _run_and_kill(db_path: Path, body: str) -> None:
    script = _PRELUDE + textwrap.dedent(body) + "\nos.kill(os.getpid(), signal.SIGKILL)\n"
    done = subprocess.run(
        [sys.executable, "-c", script, str(db_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -9, done.stderr


def test_task_left_set_by_a_killed_process_is_visible_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    _run_and_kill(
        path,
        """
        db.add_instance(inst)
        db.begin_task(inst.uuid, Task.SPAWNING)
        # ... killed while creating disks / defining the domain
        """,
    )
    with StateDB(path) as db:
        interrupted = db.instances_with_task()
        assert [(i.name, i.task) for i in interrupted] == [("victim", Task.SPAWNING)]
        # recovery can finish the record
        db.end_task(interrupted[0].uuid, InstanceState.ERROR)
        assert db.instances_with_task() == []


def test_uncommitted_transaction_of_a_killed_process_leaves_no_trace(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    _run_and_kill(
        path,
        """
        with db.transaction():
            db.add_instance(inst)
            db.begin_task(inst.uuid, Task.SPAWNING)
            os.kill(os.getpid(), signal.SIGKILL)
        """,
    )
    with StateDB(path) as db:
        assert db.list_instances() == []
        assert [i.name for i in db.list_images()] == ["img"]  # committed before: kept
        assert db._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
