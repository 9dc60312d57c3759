"""scripts/subreaper.py restarts a daemon that failed, as systemd's Restart=on-failure does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SUBREAPER = Path(__file__).resolve().parents[2] / "scripts" / "subreaper.py"


def _supervise(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SUBREAPER), str(tmp_path / "pid"), "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )


def test_a_daemon_that_aborts_is_started_again_and_the_restart_is_logged(tmp_path: Path) -> None:
    # the first run aborts (as libvirtd 11.3 did), the second one exits cleanly
    done = _supervise(tmp_path, "if [ -e ran ]; then exit 0; fi; touch ran; kill -ABRT $$")
    assert done.returncode == 0
    assert "failed (killed by SIGABRT); restarting it" in done.stderr
    assert "restarted as pid" in done.stderr
    assert not (tmp_path / "pid").exists()  # the wrapper removes its own pid file


def test_a_daemon_stopped_on_purpose_is_not_restarted(tmp_path: Path) -> None:
    done = _supervise(tmp_path, "echo x >> runs; kill -TERM $$")
    assert (tmp_path / "runs").read_text() == "x\n"
    assert "restarting" not in done.stderr


def test_a_daemon_that_keeps_failing_is_given_up_after_the_start_limit(tmp_path: Path) -> None:
    done = _supervise(tmp_path, "echo x >> runs; exit 3")
    assert (tmp_path / "runs").read_text().count("x") == 5
    assert "failed (exit status 3) 5 times" in done.stderr
    assert done.returncode == 3
