"""Writing a config drive: an ISO 9660 file system labelled ``config-2``, as Nova makes it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from zcompute._faults import fault_point
from zcompute.errors import ImageError, InvalidInput

#: cloud-init finds the drive by this volume label.
LABEL = "config-2"
# Rock Ridge and Joliet keep the long lower-case names (meta_data.json) that plain ISO 9660
# would mangle; these are the options Nova gives genisoimage.
_OPTIONS = ("-ldots", "-allow-lowercase", "-allow-multidot", "-l", "-quiet", "-J", "-r")


def write_config_drive(files: Mapping[str, bytes], dest: Path) -> Path:
    """Write ``files`` (relative path → content) as a config drive image at ``dest``.

    The files are staged in a private directory next to ``dest`` (user data may hold secrets)
    and the image appears under its final name only when complete, so an interrupted write
    leaves a ``.configdrive-*`` staging directory that the instance's cleanup removes, never a
    half-written drive.
    """
    staging = Path(tempfile.mkdtemp(prefix=".configdrive-", dir=dest.parent))
    try:
        tree = staging / "tree"
        tree.mkdir(mode=0o700)
        for relative, data in files.items():
            target = tree / _safe_relative(relative)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            target.write_bytes(data)
        fault_point("configdrive.staged")
        partial = staging / "drive.iso"
        _genisoimage(tree, partial)
        partial.chmod(0o600)
        os.replace(partial, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def remove_staging(directory: Path) -> None:
    """Staging directories an interrupted :func:`write_config_drive` left in ``directory``."""
    for leftover in directory.glob(".configdrive-*"):
        with contextlib.suppress(OSError):
            shutil.rmtree(leftover)


def _safe_relative(relative: str) -> PurePosixPath:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise InvalidInput("config drive file", f"not a relative path: {relative!r}")
    return path


def _genisoimage(tree: Path, output: Path) -> None:
    argv = ["genisoimage", "-o", str(output), *_OPTIONS, "-publisher", "zcompute", "-V", LABEL]
    try:
        done = subprocess.run([*argv, str(tree)], capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise ImageError("genisoimage is not installed; run scripts/setup-host") from err
    if done.returncode != 0:
        raise ImageError(f"genisoimage failed: {done.stderr.strip()[-400:]}")
