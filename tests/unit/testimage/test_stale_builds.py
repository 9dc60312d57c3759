"""A killed image build's folder is removed by the next build, never through a mount."""

from __future__ import annotations

import subprocess
from pathlib import Path

from zcompute.testimage._build import remove_stale_builds


def test_a_killed_builds_folder_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".build-s390x-abc123"
    (stale / "rootfs" / "etc").mkdir(parents=True)
    (stale / "rootfs" / "etc" / "hostname").write_text("x")
    kept = tmp_path / "s390x-0123456789abcdef"
    kept.mkdir()
    remove_stale_builds(tmp_path, ".build-s390x-")
    assert [p.name for p in tmp_path.iterdir()] == [kept.name]


def test_a_folder_with_a_mount_inside_is_left_alone(tmp_path: Path) -> None:
    stale = tmp_path / ".build-debian12-s390x-abc"
    proc = stale / "rootfs" / "proc"
    proc.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(proc)], check=True)
    try:
        (proc / "outside").write_text("must survive")
        remove_stale_builds(tmp_path, ".build-debian12-s390x-")
        assert (proc / "outside").read_text() == "must survive"
    finally:
        subprocess.run(["umount", str(proc)], check=True)
    remove_stale_builds(tmp_path, ".build-debian12-s390x-")  # unmounted: now it goes
    assert not stale.exists()
