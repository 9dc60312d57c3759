"""A declared field that no test reads and writes is a field nobody knows works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import zcompute.xml  # noqa: F401  (imports every class, so every field is declared)
from zcompute.xml._fields import ALL_FIELDS

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def test_every_declared_field_is_read_and_written_by_the_tests(tmp_path: Path) -> None:
    log = tmp_path / "fields.txt"
    env = {**os.environ, "ZCOMPUTE_XML_FIELD_LOG": str(log)}
    this = f"{Path(__file__).relative_to(REPO)}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            str(HERE.relative_to(REPO)),
            "--ignore",
            this,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    used = set(log.read_text().split())
    declared = {f"{f.qualname}:{how}" for f in ALL_FIELDS for how in ("get", "set")}
    assert len(declared) > 300
    assert sorted(declared - used) == []
