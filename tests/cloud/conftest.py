"""zcompute's cloud (make cloud, docs/cloud.md) as the client sees it: the OpenStack CLI.

Collected only with ``ZCLOUD_TESTS=1`` (``make cloud-test``): the tests bring the cloud up
themselves (cloud/install, cloud/cloudctl up: minutes when cold) and boot real guests, which
the unit and e2e runs must not do by accident. Everything goes through the cloud's own venv
(/opt/zcompute-cloud/venv) by subprocess; this process imports no OpenStack module.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("ZCLOUD_VENV", "/opt/zcompute-cloud/venv"))
STATE = Path(os.environ.get("ZCLOUD_STATE", "/var/lib/zcompute-cloud"))

if os.environ.get("ZCLOUD_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]


class Cloud:
    """``openstack --os-cloud zcompute`` (admin) with JSON output."""

    def __init__(self, up_seconds: float) -> None:
        self.up_seconds = up_seconds

    def run(self, *args: str, microversion: str | None = None, check: bool = True) -> Any:
        argv = [str(VENV / "bin/openstack"), "--os-cloud", "zcompute"]
        if microversion:
            argv += ["--os-compute-api-version", microversion]
        done = subprocess.run(
            [*argv, *args], capture_output=True, text=True, check=False, cwd="/tmp"
        )
        if check and done.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)}: {done.stderr.strip()}")
        out = done.stdout.strip()
        if "-f" in args and args[args.index("-f") + 1] == "json" and out:
            return json.loads(out)
        return out

    def server(self, name: str) -> dict[str, Any]:
        return dict(self.run("server", "show", name, "-f", "json"))

    def wait_deleted(self, name: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.run("server", "list", "--name", f"^{name}$", "-f", "json"):
                return
            time.sleep(1)
        raise AssertionError(f"server {name} still exists after {timeout} s")

    def console_until(self, name: str, needle: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = str(self.run("console", "log", "show", name, check=False))
            if needle in text:
                return text
            time.sleep(1)
        raise AssertionError(f"{needle!r} not in {name}'s console log after {timeout} s")


def cloudctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "cloud/cloudctl"), *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="session")
def cloud() -> Cloud:
    """The cloud, brought up (idempotent) before the first test that needs it."""
    started = time.monotonic()
    subprocess.run([str(REPO / "cloud/install")], check=True)
    done = cloudctl("up")
    assert done.returncode == 0, done.stderr[-3000:]
    return Cloud(time.monotonic() - started)
