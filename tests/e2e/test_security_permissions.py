"""Guest data on a real host: only root and the guest's QEMU read it, no QEMU changes a shared base.

An s390x guest boots from an overlay on a raw base image of the store (with the test kernel, as
a snapshot of a kernel-boot guest does). While it runs and after it stopped:

* an unprivileged user (``nobody``) reads neither its disk, nor its console log, nor its kernel;
* the base image and the store's kernel stay root's and read-only, and a process with the
  running QEMU's own user and groups (read from /proc) can neither write nor chmod them;
* links planted in the guest's folder lead root nowhere: libvirt starting the guest does not
  write its console into a host file, and deleting the guest removes only the links.

On a zcompute that makes 0644 disks in 0755 folders and lets libvirt relabel bases and kernels,
each of these fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import DATA_DIR, TINY, imported_test_image, wait_for_text
from tests.e2e.lifecycle_support import BOOTED
from zcompute.driver import ComputeDriver
from zcompute.errors import NotFound
from zcompute.model import Image

NOBODY = 65534
BOOT_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class Ids:
    uid: int
    gid: int
    groups: tuple[int, ...]


def _qemu_ids(name: str) -> Ids:
    """The user and groups the guest's QEMU process really runs with."""
    pid = Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip()
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return Ids(int(fields["Uid"][1]), int(fields["Gid"][1]), tuple(map(int, fields["Groups"])))


def _as(ids: Ids, *command: str) -> subprocess.CompletedProcess[bytes]:
    groups = ["--groups", ",".join(map(str, ids.groups))] if ids.groups else ["--clear-groups"]
    argv = ["setpriv", f"--reuid={ids.uid}", f"--regid={ids.gid}", *groups, "--", *command]
    return subprocess.run(argv, capture_output=True, timeout=30, check=False)


NOBODY_IDS = Ids(NOBODY, NOBODY, ())


def _nobody_reads(path: Path) -> bool:
    return _as(NOBODY_IDS, "cat", str(path)).returncode == 0


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _qemu_changes(ids: Ids, path: Path) -> bool:
    """Whether a process with QEMU's ids can make ``path`` writable or write to it."""
    before = (_digest(path), stat.S_IMODE(os.stat(path).st_mode))
    script = 'chmod u+w "$1" 2>/dev/null; printf tampered >> "$1"'
    result = _as(ids, "sh", "-c", script, "sh", str(path))
    after = (_digest(path), stat.S_IMODE(os.stat(path).st_mode))
    return result.returncode == 0 or after != before


def _check_shared(path: Path, qemu: Ids) -> None:
    st = os.stat(path)
    assert st.st_uid == 0, f"{path} belongs to uid {st.st_uid}"
    assert not st.st_mode & 0o222, f"{path} is writable: {stat.filemode(st.st_mode)}"
    assert not _nobody_reads(path), f"nobody reads {path}"
    assert not _qemu_changes(qemu, path), f"QEMU's user can change {path}"


@pytest.fixture
def victim(guest_name: str) -> Iterator[Path]:
    """A root-only host file and folder that links in the guest's folder point at."""
    path = DATA_DIR / "tests" / f"{guest_name}-victim"
    (path / "folder").mkdir(parents=True, mode=0o700)
    (path / "secret").write_text("host secret\n")
    (path / "folder" / "keep").write_text("keep\n")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def based_image(driver: ComputeDriver, guest_name: str, tmp_path: Path) -> Iterator[Image]:
    """A raw base image in the store that boots with the s390x test kernel."""
    kernel = driver.images.get(imported_test_image(driver, "s390x"))
    raw = tmp_path / "base.raw"
    with raw.open("wb") as handle:
        handle.truncate(64 << 20)
    image = driver.images.import_file(
        f"{guest_name}-base", raw, arch="s390x", properties={"kernel_id": kernel.id}
    )
    yield image
    with contextlib.suppress(NotFound):
        driver.destroy(guest_name)
        driver.images.delete(image.id)


def test_guest_data_is_root_and_qemus_and_shared_bases_stay_roots(
    driver: ComputeDriver, guest_name: str, based_image: Image, victim: Path
) -> None:
    inst = driver.spawn(guest_name, based_image, TINY.name, wait_for=BOOTED, timeout=BOOT_TIMEOUT)
    folder = driver.instances_dir / inst.uuid
    disk, log = folder / "disk.qcow2", driver.console_log_path(inst.name)
    kernel = driver.images.get(based_image.prop("kernel_id") or "")
    assert based_image.path is not None
    assert kernel.kernel_path is not None
    shared = [based_image.path, kernel.kernel_path]
    qemu = _qemu_ids(inst.name)
    assert qemu.uid != 0

    # running: libvirt lent the guest's own disk to its QEMU, and nothing shared
    assert BOOTED in log.read_text(errors="replace")
    assert os.stat(disk).st_uid == qemu.uid
    private = [disk, log, *(p for p in folder.iterdir() if p.name in ("kernel", "initrd"))]
    for path in private:
        assert not _nobody_reads(path), f"nobody reads {path} while the guest runs"
    assert _as(NOBODY_IDS, "ls", str(folder)).returncode != 0
    for path in shared:
        _check_shared(path, qemu)

    # stopped: everything back to root, still unreadable to others, bases untouched
    driver.power_off(inst.name, timeout=0)
    assert (os.stat(disk).st_uid, stat.S_IMODE(os.stat(disk).st_mode)) == (0, 0o600)
    for path in private:
        assert not _nobody_reads(path), f"nobody reads {path} after the guest stopped"
    for path in shared:
        _check_shared(path, qemu)

    # a console log planted as a link: libvirt (root) starting the guest must not write there
    log.unlink()
    log.symlink_to(victim / "secret")
    driver.power_on(inst.name)
    wait_for_text(log, BOOTED, BOOT_TIMEOUT)  # booted again, into its own log
    assert not log.is_symlink()
    assert (victim / "secret").read_text() == "host secret\n"
    driver.power_off(inst.name, timeout=0)
    for path in shared:
        _check_shared(path, qemu)

    # links planted in place of the guest's files: delete removes the links, not their targets
    disk.unlink()
    disk.symlink_to(victim / "secret")
    (folder / "planted").symlink_to(victim / "folder")
    assert driver.destroy(inst.name)
    assert not os.path.lexists(folder)
    assert (victim / "secret").read_text() == "host secret\n"
    assert (victim / "folder" / "keep").read_text() == "keep\n"
