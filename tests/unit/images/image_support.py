"""Helpers that make real images with qemu-img / qemu-io for the image store tests."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from zcompute.images import ImageStore

MIB = 1 << 20


def run(*args: str) -> str:
    return subprocess.run(list(args), check=True, capture_output=True, text=True).stdout


def qemu_img_create(path: Path, fmt: str, size: str, *options: str) -> Path:
    run("qemu-img", "create", "-q", "-f", fmt, *options, str(path), size)
    return path


def write_pattern(path: Path, fmt: str, pattern: int, offset: int, length: int) -> None:
    """Write bytes into a disk image through QEMU's block layer (as a guest would)."""
    run("qemu-io", "-f", fmt, "-c", f"write -P {pattern:#x} {offset} {length}", str(path))


def info(path: Path, *extra: str) -> Any:
    return json.loads(run("qemu-img", "info", "--output=json", "-U", *extra, str(path)))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def store_entries(store: ImageStore) -> list[str]:
    """Everything in the store's image directory (empty after a failed import)."""
    return sorted(p.name for p in store.images_dir.iterdir())
