"""Resize, its confirm and its revert, interrupted after each of their steps, converge.

As in :mod:`tests.e2e.test_interruptions` (whose host and checks these cases share): the real
``zcompute`` command runs with a fault after one step, an error (``raise``) or SIGKILL
(``kill``: no cleanup at all), then the next command runs. A resize cut short is undone: the
guest has its old flavor, its old disks (no ephemeral or swap disk the new flavor brought),
nothing kept, and runs again; a revert killed is finished by recovery (one that failed tries
once more at once, and failing again leaves the resize pending, whole, for a revert run
again); a confirm cut short is finished.
The guest's disks are never lost: the root disk keeps what was written on it.
"""

from __future__ import annotations

import subprocess
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from zcompute.images import virtual_size
from zcompute.model import Flavor, InstanceState

from .conftest import RUN_ID, TEST_PREFIX, TINY
from .test_interruptions import Host, host

__all__ = ["host"]  # the shared module fixture, used here by name

ACTIONS = ("raise", "kill")
BIG = Flavor(f"{TINY.name}-rs-big", 2, 320, 2, ephemeral_gib=1, swap_mib=16)
BIGGER = Flavor(f"{TINY.name}-rs-bigger", 1, 320, 2)  # for confirms: no scratch disks
GIB = 1 << 30
MARK = b"ZCRESIZE"
MARK_OFFSET = 900 << 20  # within TINY's 1 GiB root disk, beyond anything the guest writes

STEPS = {
    "resize": [
        "resize.stopped", "resize.kept", "resize.disks", "resize.defined", "resize.started",
    ],
    "resize_revert": [
        "resize_revert.stopped", "resize_revert.disks", "resize_revert.defined",
        "resize_revert.started",
    ],
    "resize_confirm": ["resize_confirm.dropped"],
}  # fmt: skip

pytestmark = pytest.mark.xdist_group("interruptions")


def cases(operation: str) -> list[tuple[str, str]]:
    return [(step, action) for step in STEPS[operation] for action in ACTIONS]


@pytest.fixture(scope="module")
def flavors(host: Host) -> None:
    for flavor in (BIG, BIGGER):
        host.driver.db.add_flavor(flavor)


@pytest.fixture(scope="module")
def tiny_guest(host: Host, flavors: None) -> Iterator[str]:
    """A running TINY guest with a mark on its root disk, shared by the resize and revert
    cases: each of them converges back to TINY."""
    guest = f"{TEST_PREFIX}{RUN_ID}-rsz-{uuidlib.uuid4().hex[:6]}"
    host.boot(guest)
    root = host.driver.root_disk_path(host.driver.get_instance(guest).uuid)
    host.run("stop", guest, "--force")  # never write into a disk a running QEMU uses
    _write_mark(root)
    host.run("start", guest)
    yield guest
    host.run("delete", guest, check=False)


def _write_mark(root: Path) -> None:
    """A mark in the root disk's content (written through qemu-io: the file is qcow2)."""
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", f"write -P 0x5a {MARK_OFFSET} 4k", str(root)],
        check=True,
        capture_output=True,
    )


def _has_mark(root: Path) -> bool:
    done = subprocess.run(
        ["qemu-io", "-U", "-r", "-f", "qcow2", "-c", f"read -P 0x5a {MARK_OFFSET} 4k", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and "Pattern verification failed" not in done.stdout


def _as_tiny_and_running(host: Host, guest: str) -> None:
    """What an undone resize or a finished revert leaves: the old guest, whole, running."""
    inst = host.driver.get_instance(guest)
    folder = host.driver.instances_dir / inst.uuid
    assert inst.flavor == TINY
    assert inst.state is InstanceState.RUNNING
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("resize")) == []
    assert not (folder / "disk.eph0").exists()
    assert not (folder / "disk.swap").exists()
    root = host.driver.root_disk_path(inst.uuid)
    assert virtual_size(root, "qcow2") == TINY.root_gib * GIB
    assert _has_mark(root)


@pytest.mark.parametrize(("step", "action"), cases("resize"))
def test_resize(host: Host, tiny_guest: str, step: str, action: str) -> None:
    host.interrupted(f"{step}:{action}", "resize", tiny_guest, BIG.name)
    host.converge()
    _as_tiny_and_running(host, tiny_guest)
    host.manageable(tiny_guest)


@pytest.mark.parametrize(("step", "action"), cases("resize_revert"))
def test_resize_revert(host: Host, tiny_guest: str, step: str, action: str) -> None:
    host.run("resize", tiny_guest, BIG.name)
    host.interrupted(f"{step}:{action}", "resize-revert", tiny_guest)
    host.run("list")
    if host.driver.pending_resize(tiny_guest) is not None:
        # a revert that failed (raise) tried once more at once and met the same fault: the
        # resize is still pending, whole, and a revert run again finishes it
        assert action == "raise"
        host.run("resize-revert", tiny_guest)
    host.converge()
    _as_tiny_and_running(host, tiny_guest)
    host.manageable(tiny_guest)


@pytest.mark.parametrize(("step", "action"), cases("resize_confirm"))
def test_resize_confirm(host: Host, flavors: None, step: str, action: str) -> None:
    guest = f"{TEST_PREFIX}{RUN_ID}-rsc-{uuidlib.uuid4().hex[:6]}"
    host.boot(guest)
    try:
        host.run("resize", guest, BIGGER.name)
        host.interrupted(f"{step}:{action}", "resize-confirm", guest)
        host.converge()
        inst = host.driver.get_instance(guest)
        folder = host.driver.instances_dir / inst.uuid
        assert inst.flavor == BIGGER
        assert [p.name for p in folder.iterdir() if p.name.startswith("resize")] == []
        host.manageable(guest)
    finally:
        host.run("delete", guest, check=False)


def test_every_step_of_resize_has_its_cases(host: Host, tiny_guest: str, tmp_path: Path) -> None:
    def traced(*args: str) -> list[str]:
        trace = tmp_path / f"trace-{uuidlib.uuid4().hex[:6]}"
        host.run(*args, trace=trace)
        return trace.read_text().split() if trace.exists() else []

    seen = {
        "resize": traced("resize", tiny_guest, BIG.name),
        "resize_revert": traced("resize-revert", tiny_guest),
    }
    other = f"{TEST_PREFIX}{RUN_ID}-rst-{uuidlib.uuid4().hex[:6]}"
    host.boot(other)
    try:
        host.run("resize", other, BIGGER.name)
        seen["resize_confirm"] = traced("resize-confirm", other)
    finally:
        host.run("delete", other, check=False)
    assert seen == STEPS
